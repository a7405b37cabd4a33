"""The evaluator's view: the monitor records every body's survival and wellbeing to disk, the metrics
score a recording (every formula in :mod:`~openworld.scoring.metrics`, every score declared once in
:mod:`~openworld.scoring.scores`), and the report aggregates runs over seeds with IQM and bootstrap CIs."""
