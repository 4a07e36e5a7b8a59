"""Delivery's inbound SMTP server in the chart: a container port, INBOUND_SMTP_PORT, a Service
of its own on port 25 (the bounce domain's MX), open to any mail server by the network policy,
and the alerts on bounces, complaints, blocks and the reputation guard."""

from __future__ import annotations

import helm_python as helm

from .charts import PREFIX, find, invalid, of_kind, pod_spec, render

DELIVERY = f"{PREFIX}-delivery"


def test_delivery_listens_for_bounces_behind_an_smtp_service(chart: helm.Chart) -> None:
    manifests = render(chart)
    assert invalid(manifests) == []
    [container] = pod_spec(find(manifests, "Deployment", DELIVERY))["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["smtp-inbound"] == 2525
    config = find(manifests, "ConfigMap", DELIVERY)["data"]
    assert config["INBOUND_SMTP_PORT"] == "2525"
    assert config["BOUNCE_DOMAIN"] == "bounces.missiva.example"
    smtp = find(manifests, "Service", f"{DELIVERY}-smtp")
    assert smtp["spec"]["type"] == "LoadBalancer"
    assert smtp["spec"]["ports"] == [
        {"name": "smtp", "port": 25, "targetPort": "smtp-inbound", "protocol": "TCP"}
    ]
    assert smtp["spec"]["selector"] == find(manifests, "Service", DELIVERY)["spec"]["selector"]
    # No other service gets an SMTP port.
    others = [c for d in of_kind(manifests, "Deployment") if d["metadata"]["name"] != DELIVERY
              for c in pod_spec(d)["containers"]]  # fmt: skip
    assert not [p for c in others for p in c.get("ports", []) if p["name"] == "smtp-inbound"]


def test_the_smtp_port_is_open_to_any_mail_server(chart: helm.Chart) -> None:
    policy = find(render(chart), "NetworkPolicy", DELIVERY)
    rules = [
        r for r in policy["spec"]["ingress"] if {"port": 2525, "protocol": "TCP"} in r["ports"]
    ]
    assert rules == [{"ports": [{"port": 2525, "protocol": "TCP"}]}]  # no `from`: anyone


def test_the_smtp_service_can_be_internal(chart: helm.Chart) -> None:
    values = {"services": {"delivery": {"inboundSmtpService": {"type": "ClusterIP", "port": 2525}}}}
    smtp = find(render(chart, values), "Service", f"{DELIVERY}-smtp")
    assert smtp["spec"]["type"] == "ClusterIP"
    assert smtp["spec"]["ports"][0]["port"] == 2525


def test_the_delivery_alerts_are_rendered(chart: helm.Chart) -> None:
    values = {"monitoring": {"prometheusRules": {"enabled": True}}}
    [rule] = of_kind(render(chart, values), "PrometheusRule")
    alerts = {a["alert"]: a for g in rule["spec"]["groups"] for a in g["rules"]}
    names = ("MissivaCampaignPausedForReputation", "MissivaDeliveryBounceRateHigh",
             "MissivaDeliveryComplaintRateHigh", "MissivaDeliveryBlockedByDestination")  # fmt: skip
    for name in names:
        assert alerts[name]["labels"]["service"] == "delivery"
    assert 'class=~"hard|blocked"' in alerts["MissivaDeliveryBounceRateHigh"]["expr"]
    assert alerts["MissivaDeliveryComplaintRateHigh"]["expr"].endswith("> 0.003")
    assert "by (destination)" in alerts["MissivaDeliveryBlockedByDestination"]["expr"]
