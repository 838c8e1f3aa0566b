"""Read-side products handed outside the ledger: the state grade-history file, the CLR 2.0 learner
record and the printable transcript. Builders here are pure functions of read-model dicts;
``service`` reads them through ``ReadModels`` and records each export made."""
