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
        # The streams are the session's real ones: remove the probes so no other test reads them.
        command = await js.publish(SEND_TRANSACTIONAL_EMAIL, b"probe")
        event = await js.publish("delivery.message.bounced", b"probe")
        await js.delete_msg(command.stream, command.seq)
        await js.delete_msg(event.stream, event.seq)
        assert command.stream == "DELIVERY_COMMANDS"
        assert event.stream == "DELIVERY_EVENTS"
        info = await js.stream_info("DELIVERY_COMMANDS")
        assert str(getattr(info.config.retention, "value", info.config.retention)) == "workqueue"
        assert info.config.max_age == 7 * 86_400
    finally:
        await nc.close()
