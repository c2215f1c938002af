"""Each service's error body format, as its real service renders it."""
import json

from cascade.api.faults import fault_response, unauthorized_response


def test_nova_fault_names() -> None:
    body = json.loads(fault_response("compute", 404, "gone").text)
    assert body == {"itemNotFound": {"code": 404, "message": "gone"}}
    assert "computeFault" in json.loads(fault_response("compute", 500, "x").text)


def test_neutron_error_format() -> None:
    body = json.loads(fault_response("network", 404, "no net").text)
    assert body == {"NeutronError": {"type": "HTTPNotFound", "message": "no net",
                                     "detail": ""}}


def test_glance_error_is_an_html_page() -> None:
    resp = fault_response("image", 404, "No image found with ID <x>")
    assert resp.content_type == "text/html"
    assert "<title>404 Not Found</title>" in resp.text and "&lt;x&gt;" in resp.text


def test_unauthorized_names_keystone() -> None:
    resp = unauthorized_response("http://ks/v3")
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"] == 'Keystone uri="http://ks/v3"'
