import json

from django.db import connection
from django.http import JsonResponse
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


urlpatterns = [path("bench/one-insert/", one_insert), *project_urlpatterns]
