"""Read models: mastery, credits and transcripts, lineage, hours and the audit trail."""

from projections.read_models import Page, ReadModels

__all__ = ["Page", "ReadModels"]
