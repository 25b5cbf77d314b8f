"""The API's shared serializer bases and the cache backend, which trade DRF's and
Django's per-call rebuilding for work done once: each must still behave as the original."""

from django.core.cache import cache
from django.utils import translation
from rest_framework import serializers

from loyalty.api import EntrySerializer
from loyalty.models import Redemption
from retention_crm.api import ModelSerializer, Serializer


class Lines(Serializer):
    sku = serializers.CharField(max_length=5)


class Order(Serializer):
    order_id = serializers.CharField(max_length=5)
    total = serializers.DecimalField(max_digits=6, decimal_places=2, min_value=0)
    lines = Lines(many=True, required=False)
    balance = serializers.SerializerMethodField()

    def get_balance(self, _obj) -> int:
        return self.context["balance"]


def test_each_instance_has_fields_of_its_own_bound_to_it():
    first, second = Order(context={"balance": 1}), Order(context={"balance": 2})
    for name in ("order_id", "total", "lines", "balance"):
        assert first.fields[name] is not second.fields[name]
        assert first.fields[name].parent is first
        assert second.fields[name].parent is second
    # A nested serializer's fields lead back to the instance they belong to.
    assert first.fields["lines"].child.root is first
    assert first.fields["lines"].child.fields["sku"].root is first
    # A field's method and context are its own serializer's.
    assert first.to_representation({"order_id": "a", "total": 1})["balance"] == 1
    assert second.to_representation({"order_id": "a", "total": 1})["balance"] == 2
    # Changing one instance's field leaves the other's and later ones alone.
    first.fields["order_id"].required = False
    assert second.fields["order_id"].required is True
    assert Order().fields["order_id"].required is True


def test_validation_is_drfs():
    data = Order(data={"order_id": "toolong", "total": "-1", "lines": [{"sku": "abcdefg"}]})
    assert not data.is_valid()
    assert set(data.errors) == {"order_id", "total", "lines"}
    assert "sku" in data.errors["lines"][0]
    good = Order(data={"order_id": "a1", "total": "2.50", "lines": [{"sku": "x"}]})
    assert good.is_valid(), good.errors
    assert good.validated_data["lines"] == [{"sku": "x"}]


def test_a_model_serializer_works_out_its_fields_once_per_language(monkeypatch):
    built = []
    drfs = serializers.ModelSerializer.get_fields

    def counting(self):
        built.append(translation.get_language())
        return drfs(self)

    monkeypatch.setattr(serializers.ModelSerializer, "get_fields", counting)

    class Fresh(ModelSerializer):
        class Meta:
            model = Redemption
            fields = ["id", "account", "reward", "points", "code", "status"]

    with translation.override("en"):
        for _ in range(3):
            assert Fresh().fields["points"].parent is not None
    with translation.override("ru"):
        Fresh().fields  # noqa: B018
        Fresh().fields  # noqa: B018
    assert built == ["en", "ru"]


def test_labels_are_in_the_language_of_the_request():
    # Built in English first: DRF leaves the label out where it equals the field's
    # name, so fields kept from an English build would show "Points" in Russian too.
    with translation.override("en"):
        assert EntrySerializer().fields["points"].label == "Points"
    with translation.override("ru"):
        assert str(EntrySerializer().fields["points"].label) == "Баллы"


def test_the_cache_keeps_one_client_and_works():
    client = cache._cache.get_client()
    assert cache._cache.get_client() is client
    assert cache._cache.get_client(write=True) is client
    cache.set("plumbing-check", {"a": 1}, 30)
    assert cache.get_many(["plumbing-check", "absent"]) == {"plumbing-check": {"a": 1}}
    cache.delete("plumbing-check")
