"""Compliance at every level (issue 14): the supervisee's month (models.LearnerMonth), its upkeep
and the unit pages that aggregate it."""
