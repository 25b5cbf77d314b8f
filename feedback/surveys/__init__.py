"""Surveys (NPS, CSAT, CLI and custom ones): invitations with personal links, the forms
customers answer, the scores, and closing the loop on unhappy answers.

models.py holds the rows, services.py every write (invitations, submissions, the
sweep, the periodic selection), selectors.py the scores; views.py and forms.py are the
customer pages. docs/architecture.md, "Surveys", tells how they fit together.
"""
