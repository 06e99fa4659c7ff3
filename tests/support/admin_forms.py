"""Post Django admin forms as a browser would, inline management forms included."""


def admin_post_data(response, **fields) -> dict:
    """The admin add/change form on ``response``, with ``fields`` changed."""
    form = response.context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields}
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data.update({management.add_prefix(name): management[name].value() for name in management.fields})
    return {**data, **fields}
