"""A charge point built on the PyPI `ocpp` package (The Mobility House), driving the hub's
gateway for the interop tests: boot, heartbeat, status notification. Prints one JSON object
with what the hub answered; exits non-zero on any failure (the package validates the hub's
answers against the OCA schemas)."""

import asyncio
import base64
import json
import sys
from datetime import datetime, timezone

import websockets
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201


async def run(url: str, cp_id: str, password: str, version: str) -> dict:
    token = base64.b64encode(f"{cp_id}:{password}".encode()).decode()
    proto = "ocpp1.6" if version == "1.6" else "ocpp2.0.1"
    async with websockets.connect(
        f"{url}/ocpp/{cp_id}",
        subprotocols=[proto],
        additional_headers={"Authorization": f"Basic {token}"},
    ) as ws:
        if version == "1.6":
            cp = ChargePoint16(cp_id, ws)
            listener = asyncio.create_task(cp.start())
            boot = await cp.call(
                call16.BootNotification(
                    charge_point_vendor="PyVendor", charge_point_model="PyModel"
                )
            )
            beat = await cp.call(call16.Heartbeat())
            await cp.call(
                call16.StatusNotification(
                    connector_id=1, error_code="NoError", status="Charging"
                )
            )
        else:
            cp = ChargePoint201(cp_id, ws)
            listener = asyncio.create_task(cp.start())
            boot = await cp.call(
                call201.BootNotification(
                    charging_station={"model": "PyModel", "vendor_name": "PyVendor"},
                    reason="PowerUp",
                )
            )
            beat = await cp.call(call201.Heartbeat())
            await cp.call(
                call201.StatusNotification(
                    timestamp=datetime.now(timezone.utc).isoformat(),
                    connector_status="Occupied",
                    evse_id=1,
                    connector_id=1,
                )
            )
        listener.cancel()
        return {
            "protocol": ws.subprotocol,
            "boot_status": boot.status,
            "interval": boot.interval,
            "heartbeat_time": beat.current_time,
        }


if __name__ == "__main__":
    result = asyncio.run(run(*sys.argv[1:5]))
    print(json.dumps(result))
