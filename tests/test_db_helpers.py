"""retention_crm.db's reads and writes for the hot paths give what the ORM gives."""

from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from customers.models import Customer
from loyalty.models import Reward, RewardKind
from retention_crm.db import Rows, rows_together

pytestmark = pytest.mark.django_db


def same_fields(made, expected) -> None:
    for field in type(expected)._meta.concrete_fields:
        assert getattr(made, field.attname) == getattr(expected, field.attname), field.name


def test_rows_of_several_models_come_as_the_orm_makes_them_in_one_statement():
    reward = Reward.objects.create(
        kind=RewardKind.DISCOUNT, names={"en": "€5 off", "da": "5 € rabat"}, cost=50, value=Decimal("5.00")
    )
    Customer.objects.create(external_id="C-2", email="two@example.com")
    Customer.objects.create(external_id="C-1", email="one@example.com")
    with CaptureQueriesContext(connection) as queries:
        customers, rewards, none = rows_together(
            Rows(Customer, "external_id LIKE %s", ["C-%"], order_by="external_id"),
            Rows(Reward, "id = %s", [reward.pk]),
            Rows(Reward, "id = %s", [reward.pk + 1]),
        )
    assert len(queries) == 1
    assert [customer.external_id for customer in customers] == ["C-1", "C-2"]
    same_fields(customers[0], Customer.objects.get(external_id="C-1"))
    same_fields(rewards[0], Reward.objects.get(pk=reward.pk))
    assert rewards[0].names == {"en": "€5 off", "da": "5 € rabat"}  # JSON decoded
    assert rewards[0].value == Decimal("5.00")
    assert not rewards[0]._state.adding
    assert none == []


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_read_after_a_lock_sees_what_the_lock_holder_committed():
    """The second statement takes its snapshot after the first got its lock."""
    import threading

    customer = Customer.objects.create(external_id="L-1", name="before")
    locked, release = threading.Event(), threading.Event()

    def holder():
        with transaction.atomic():
            Customer.objects.select_for_update().get(pk=customer.pk)
            locked.set()
            release.wait(5)
            Customer.objects.filter(pk=customer.pk).update(name="after")
        connection.close()

    thread = threading.Thread(target=holder)
    thread.start()
    locked.wait(5)
    threading.Timer(0.3, release.set).start()
    with transaction.atomic():
        _locked, (read,) = rows_together(
            Rows(Customer, "id = %s", [customer.pk], lock=True), Rows(Customer, "id = %s", [customer.pk])
        )
    thread.join()
    assert read.name == "after"


def test_reads_a_connection_makes_often_are_prepared_on_the_server():
    """PostgreSQL parses and plans the busy paths' reads once per connection (the
    pipeline binds on the server; DATABASES' prepare_threshold)."""
    customer = Customer.objects.create(external_id="P-1")
    read = Rows(Customer, "id = %s AND external_id <> %s", [customer.pk, "prepared-read"])
    for _ in range(6):
        (found,) = rows_together(read)
        assert [row.pk for row in found] == [customer.pk]
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [statement for (statement,) in cursor.fetchall()]
    assert any("external_id <> $2" in statement for statement in prepared), prepared


def test_a_failing_read_raises_djangos_error_and_the_transaction_rolls_back_as_usual():
    from django.db import DatabaseError

    Customer.objects.create(external_id="F-1")
    with pytest.raises(DatabaseError), transaction.atomic():
        rows_together(Rows(Customer, "external_id = %s", ["F-1"]), Rows(Customer, "no_such_column = 1"))
    # The connection is usable again at once, in a new transaction.
    (found,) = rows_together(Rows(Customer, "external_id = %s", ["F-1"]))
    assert len(found) == 1
