"""Imports from the formats schools already have: CASE frameworks, OneRoster rosters."""
