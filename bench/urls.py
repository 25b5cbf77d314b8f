import json

from django import forms
from django.db import connection
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from retention_crm.urls import urlpatterns as project_urlpatterns


@csrf_exempt
def one_insert(request):
    """The ceiling for POST /api/orders/: parse the JSON body, one INSERT, a JSON answer."""
    body = json.loads(request.body)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_ping (order_id, body) VALUES (%s, %s) RETURNING id", [body["order_id"], request.body]
        )
        (new_id,) = cursor.fetchone()
    return JsonResponse({"id": new_id, "order_id": body["order_id"]}, status=201)


class CeilingForm(forms.Form):
    name = forms.CharField(max_length=200)
    email = forms.EmailField()
    kind = forms.CharField(max_length=20)
    order_reference = forms.CharField(max_length=64, required=False)
    message = forms.CharField(max_length=5000)
    website = forms.CharField(required=False)


def form_insert(request):
    """The ceiling for /support/: a CSRF-protected form, validated, one INSERT, a redirect."""
    form = CeilingForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO bench_ping (order_id, body) VALUES (%s, %s)",
                [form.cleaned_data["email"], form.cleaned_data["message"]],
            )
        return HttpResponseRedirect("/bench/form-insert/?done=1")
    return render(request, "bench/form.html", {"form": form})


urlpatterns = [
    path("bench/one-insert/", one_insert),
    path("bench/form-insert/", form_insert),
    *project_urlpatterns,
]
