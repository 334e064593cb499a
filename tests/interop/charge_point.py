"""A charge point built on the PyPI `ocpp` package (The Mobility House), driving the hub's
gateway for the interop tests: boot, heartbeat, status notification. Prints one JSON object
with what the hub answered; exits non-zero on any failure (the package validates the hub's
answers against the OCA schemas)."""

import asyncio
import base64
import json
import os
import ssl
import sys
from datetime import datetime, timezone

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

def tls():
    """A TLS context trusting OCPP_CAFILE (security profile 2), or None for ws://."""
    cafile = os.environ.get("OCPP_CAFILE")
    return ssl.create_default_context(cafile=cafile) if cafile else None


# What the hub asked, in order (printed at the end by the `serve` mode).
RECEIVED = []
DONE = asyncio.Event()


class Served16(ChargePoint16):
    @on("RemoteStartTransaction")
    def remote_start(self, id_tag, **kwargs):
        RECEIVED.append({"action": "RemoteStartTransaction", "id_tag": id_tag})
        return result16.RemoteStartTransaction(status="Accepted")

    @on("RemoteStopTransaction")
    def remote_stop(self, transaction_id, **kwargs):
        RECEIVED.append({"action": "RemoteStopTransaction", "transaction_id": transaction_id})
        return result16.RemoteStopTransaction(status="Accepted")

    @on("ChangeAvailability")
    def availability(self, connector_id, type, **kwargs):
        RECEIVED.append({"action": "ChangeAvailability", "type": type})
        return result16.ChangeAvailability(status="Accepted")

    @on("SetChargingProfile")
    def profile(self, connector_id, cs_charging_profiles, **kwargs):
        limit = cs_charging_profiles["charging_schedule"]["charging_schedule_period"][0]["limit"]
        RECEIVED.append({"action": "SetChargingProfile", "limit": float(limit)})
        return result16.SetChargingProfile(status="Accepted")

    @on("Reset")
    def reset(self, type, **kwargs):
        RECEIVED.append({"action": "Reset", "type": type})
        DONE.set()
        return result16.Reset(status="Accepted")


class Served201(ChargePoint201):
    @on("RequestStartTransaction")
    def request_start(self, id_token, remote_start_id, **kwargs):
        RECEIVED.append({"action": "RequestStartTransaction", "id_token": id_token["id_token"]})
        return result201.RequestStartTransaction(status="Accepted")

    @on("RequestStopTransaction")
    def request_stop(self, transaction_id, **kwargs):
        RECEIVED.append({"action": "RequestStopTransaction", "transaction_id": transaction_id})
        return result201.RequestStopTransaction(status="Accepted")

    @on("ChangeAvailability")
    def availability(self, operational_status, **kwargs):
        RECEIVED.append({"action": "ChangeAvailability", "type": operational_status})
        return result201.ChangeAvailability(status="Accepted")

    @on("SetChargingProfile")
    def profile(self, evse_id, charging_profile, **kwargs):
        limit = charging_profile["charging_schedule"][0]["charging_schedule_period"][0]["limit"]
        RECEIVED.append({"action": "SetChargingProfile", "limit": float(limit)})
        return result201.SetChargingProfile(status="Accepted")

    @on("Reset")
    def reset(self, type, **kwargs):
        RECEIVED.append({"action": "Reset", "type": type})
        DONE.set()
        return result201.Reset(status="Accepted")


async def serve(url: str, cp_id: str, password: str, version: str) -> dict:
    """Boot, then answer the hub's calls until it sends Reset (or 30 s pass)."""
    token = base64.b64encode(f"{cp_id}:{password}".encode()).decode()
    proto = "ocpp1.6" if version == "1.6" else "ocpp2.0.1"
    async with websockets.connect(
        f"{url}/ocpp/{cp_id}",
        subprotocols=[proto],
        additional_headers={"Authorization": f"Basic {token}"},
        ssl=tls(),
    ) as ws:
        cp = (Served16 if version == "1.6" else Served201)(cp_id, ws)
        listener = asyncio.create_task(cp.start())
        if version == "1.6":
            await cp.call(call16.BootNotification(charge_point_vendor="PyVendor", charge_point_model="PyModel"))
        else:
            await cp.call(
                call201.BootNotification(
                    charging_station={"model": "PyModel", "vendor_name": "PyVendor"}, reason="PowerUp"
                )
            )
        await asyncio.wait_for(DONE.wait(), timeout=30)
        await asyncio.sleep(0.2)
        listener.cancel()
        return {"received": RECEIVED}


async def run(url: str, cp_id: str, password: str, version: str) -> dict:
    token = base64.b64encode(f"{cp_id}:{password}".encode()).decode()
    proto = "ocpp1.6" if version == "1.6" else "ocpp2.0.1"
    async with websockets.connect(
        f"{url}/ocpp/{cp_id}",
        subprotocols=[proto],
        additional_headers={"Authorization": f"Basic {token}"},
        ssl=tls(),
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
    mode = serve if len(sys.argv) > 5 and sys.argv[5] == "serve" else run
    result = asyncio.run(mode(*sys.argv[1:5]))
    print(json.dumps(result, default=str))
