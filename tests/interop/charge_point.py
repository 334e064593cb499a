"""A charge point built on the PyPI `ocpp` package (The Mobility House), driving the hub's
gateway for the interop tests. Modes: `run` (boot, heartbeat, status notification), `serve`
(answer the hub's calls until Reset; with OCPP_START_ON_REMOTE=1 a remote start is followed by a
real transaction start), `session` (a whole transaction with meter values on token argv[6]).
Prints one JSON object with what the hub answered; exits non-zero on any failure (the package
validates the hub's answers against the OCA schemas)."""

import asyncio
import base64
import json
import os
import ssl
import sys
from datetime import datetime, timezone

import websockets
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


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

    @after("RemoteStartTransaction")
    async def started_remotely(self, id_tag, **kwargs):
        if os.environ.get("OCPP_START_ON_REMOTE") == "1":
            r = await self.call(
                call16.StartTransaction(
                    connector_id=kwargs.get("connector_id", 1), id_tag=id_tag, meter_start=0, timestamp=now()
                )
            )
            RECEIVED.append({"action": "StartTransaction.conf", "status": r.id_tag_info["status"]})
            DONE.set()

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

    @after("RequestStartTransaction")
    async def started_remotely(self, id_token, remote_start_id, **kwargs):
        if os.environ.get("OCPP_START_ON_REMOTE") == "1":
            r = await self.call(
                call201.TransactionEvent(
                    event_type="Started", timestamp=now(), trigger_reason="RemoteStart", seq_no=0,
                    transaction_info={"transaction_id": f"PY-{remote_start_id}", "remote_start_id": remote_start_id},
                    id_token=id_token, evse={"id": kwargs.get("evse_id", 1), "connector_id": 1},
                )
            )
            RECEIVED.append({"action": "TransactionEvent.conf", "status": r.id_token_info["status"]})
            DONE.set()

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


async def session(url: str, cp_id: str, password: str, version: str, id_tag: str) -> dict:
    """Boot, authorize `id_tag`, then a transaction: 1,000 Wh at 10:00, 3,000 at 10:10,
    6,000 at 10:20, 11,000 at the stop at 10:30 (2026-03-02, UTC): 10 kWh."""
    token = base64.b64encode(f"{cp_id}:{password}".encode()).decode()
    proto = "ocpp1.6" if version == "1.6" else "ocpp2.0.1"
    times = ["2026-03-02T10:00:00Z", "2026-03-02T10:10:00Z", "2026-03-02T10:20:00Z", "2026-03-02T10:30:00Z"]
    readings = [1000, 3000, 6000, 11000]
    async with websockets.connect(
        f"{url}/ocpp/{cp_id}",
        subprotocols=[proto],
        additional_headers={"Authorization": f"Basic {token}"},
        ssl=tls(),
    ) as ws:
        if version == "1.6":
            cp = ChargePoint16(cp_id, ws)
            listener = asyncio.create_task(cp.start())
            await cp.call(call16.BootNotification(charge_point_vendor="PyVendor", charge_point_model="PyModel"))
            auth = await cp.call(call16.Authorize(id_tag=id_tag))
            start = await cp.call(
                call16.StartTransaction(connector_id=1, id_tag=id_tag, meter_start=readings[0], timestamp=times[0])
            )
            tx = start.transaction_id
            for at, wh in zip(times[1:3], readings[1:3]):
                await cp.call(
                    call16.MeterValues(
                        connector_id=1, transaction_id=tx,
                        meter_value=[{"timestamp": at, "sampled_value": [
                            {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}],
                    )
                )
            await cp.call(
                call16.StopTransaction(meter_stop=readings[3], timestamp=times[3], transaction_id=tx, reason="EVDisconnected")
            )
            result = {"authorize": auth.id_tag_info["status"], "start": start.id_tag_info["status"]}
        else:
            cp = ChargePoint201(cp_id, ws)
            listener = asyncio.create_task(cp.start())
            await cp.call(
                call201.BootNotification(charging_station={"model": "PyModel", "vendor_name": "PyVendor"}, reason="PowerUp")
            )
            id_token = {"id_token": id_tag, "type": "ISO14443"}
            auth = await cp.call(call201.Authorize(id_token=id_token))
            results = []
            for seq, (kind, at, wh) in enumerate(zip(["Started", "Updated", "Updated", "Ended"], times, readings)):
                info = {"transaction_id": f"PY-{cp_id}"}
                if kind == "Ended":
                    info["stopped_reason"] = "EVDisconnected"
                r = await cp.call(
                    call201.TransactionEvent(
                        event_type=kind, timestamp=at, seq_no=seq,
                        trigger_reason="Authorized" if kind == "Started" else "MeterValuePeriodic",
                        transaction_info=info, evse={"id": 1, "connector_id": 1},
                        id_token=id_token if kind == "Started" else None,
                        meter_value=[{"timestamp": at, "sampled_value": [
                            {"value": wh, "measurand": "Energy.Active.Import.Register"}]}],
                    )
                )
                results.append(r)
            result = {"authorize": auth.id_token_info["status"], "start": results[0].id_token_info["status"]}
        listener.cancel()
        return result


if __name__ == "__main__":
    if len(sys.argv) > 5 and sys.argv[5] == "session":
        result = asyncio.run(session(*sys.argv[1:5], sys.argv[6]))
    else:
        mode = serve if len(sys.argv) > 5 and sys.argv[5] == "serve" else run
        result = asyncio.run(mode(*sys.argv[1:5]))
    print(json.dumps(result, default=str))
