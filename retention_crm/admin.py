"""django-celery-beat's admin pages, with two of their 500s taken out (found by posting
odd values to every add and change form of the admin, tests/test_admin_forms.py):

- a periodic task's custom task name holding a NUL: the field refuses it, and the
  library's form then read the name it did not have (KeyError);
- a crontab with a value out of range (a minute of -1): the page that says so shows
  the schedule in words, which failed on the values it was refusing.
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from django_celery_beat.admin import CrontabScheduleAdmin, PeriodicTaskAdmin, PeriodicTaskForm
from django_celery_beat.models import CrontabSchedule, PeriodicTask


class CheckedPeriodicTaskForm(PeriodicTaskForm):
    def clean(self):
        if "task" not in self.cleaned_data:  # refused by its field, which says why
            return self.cleaned_data
        return super().clean()


class CheckedPeriodicTaskAdmin(PeriodicTaskAdmin):
    form = CheckedPeriodicTaskForm


class CheckedCrontabScheduleAdmin(CrontabScheduleAdmin):
    list_display = ("__str__", "in_words")
    fields = tuple("in_words" if name == "human_readable" else name for name in CrontabScheduleAdmin.fields)
    readonly_fields = ("in_words",)

    @admin.display(description=_("in words"))
    def in_words(self, schedule) -> str:
        try:
            return schedule.human_readable
        except Exception:  # values the form is refusing: its errors say what is wrong
            return "—"


for model, model_admin in ((PeriodicTask, CheckedPeriodicTaskAdmin), (CrontabSchedule, CheckedCrontabScheduleAdmin)):
    admin.site.unregister(model)
    admin.site.register(model, model_admin)
