import nats

from missiva_platform.bus import dead_letter_stream, provision
from missiva_platform.streams import (
    SEND_TRANSACTIONAL_EMAIL,
    SERVICES,
    commands_stream,
    events_stream,
)


async def test_every_services_event_command_and_dead_letter_streams_coexist(nats_url):
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        specs = [
            spec
            for service in SERVICES
            for spec in (
                events_stream(service),
                commands_stream(service),
                dead_letter_stream(service),
            )
        ]
        await provision(js, specs)
        await provision(js, specs)  # every service provisions at start: idempotent
        ack = await js.publish(SEND_TRANSACTIONAL_EMAIL, b"x")
        assert ack.stream == "DELIVERY_COMMANDS"
        ack = await js.publish("delivery.message.bounced", b"x")
        assert ack.stream == "DELIVERY_EVENTS"
        info = await js.stream_info("DELIVERY_COMMANDS")
        assert str(getattr(info.config.retention, "value", info.config.retention)) == "workqueue"
        assert info.config.max_age == 7 * 86_400
    finally:
        await nc.close()
