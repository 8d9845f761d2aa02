"""Drive the real PyPI `wechatpayv3` SDK through a cross-border flow on the global API. The SDK has no
global module, so the global paths go through its generic, signing and verifying `_core.request` (as
its README suggests for APIs it does not wrap): an order in HKD -> a CNY wallet pays -> the
TRANSACTION.SUCCESS callback (verified and decrypted by the SDK's callback()) carries payer_total and
exchange_rate -> query -> partial refund at the original rate -> the settlement query.

Run by crates/qianbao/tests/api/merchant_sdk.rs; prints "GLOBAL SDK FLOW OK" and exits 0 only if
every step answered as WeChat Pay's global API would.
"""
import http.server
import json
import os
import queue
import threading
import urllib.request
import uuid

from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3.type import RequestType

env = os.environ
gateway = env["GATEWAY"]
callbacks = queue.Queue()


class Notify(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        result = wxpay.callback(dict(self.headers), body)
        self.send_response(200 if result else 400)
        self.end_headers()
        callbacks.put(result)

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Notify)
threading.Thread(target=server.serve_forever, daemon=True).start()
notify_url = "http://127.0.0.1:%d/wechatpay/notify" % server.server_port

wxpay = WeChatPay(
    wechatpay_type=WeChatPayType.NATIVE,
    mchid=env["MCHID"],
    private_key=open(env["KEY_FILE"]).read(),
    cert_serial_no=env["SERIAL"],
    appid=env["APPID"],
    apiv3_key=env["APIV3_KEY"],
    notify_url=notify_url,
    public_key=open(env["PUBLIC_KEY_FILE"]).read(),
    public_key_id=env["PUBLIC_KEY_ID"],
)
wxpay._core._gate_way = gateway
mchid = env["MCHID"]


def check(condition, what):
    if not condition:
        raise SystemExit("FAILED: " + what)


def wallet(path, body):
    request = urllib.request.Request(
        gateway + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": "Bearer " + env["WALLET_TOKEN"], "Idempotency-Key": uuid.uuid4().hex},
    )
    return json.loads(urllib.request.urlopen(request).read())


out_trade_no = "GSDK" + uuid.uuid4().hex[:20]
order = {
    "appid": env["APPID"], "mchid": mchid, "description": "Dim sum 點心", "out_trade_no": out_trade_no,
    "notify_url": notify_url, "trade_type": "NATIVE", "merchant_category_code": "5812",
    "amount": {"total": 10000, "currency": "HKD"},
}
code, text = wxpay._core.request("/v3/global/transactions/native", method=RequestType.POST, data=order)
check(code == 200, "global native: %s %s" % (code, text))
code_url = json.loads(text)["code_url"]

paid = wallet("/api/v1/merchant-payments", {"code_url": code_url, "pin": env["WALLET_PIN"]})
check(paid["state"] == "SUCCESS" and paid["payer_currency"] == "CNY", "the CNY wallet paid: %s" % paid)

event = callbacks.get(timeout=20)
check(event is not None, "the payment callback verifies and decrypts")
amount = event["resource"]["amount"]
check(amount["total"] == 10000 and amount["currency"] == "HKD", "amount %s" % amount)
check(amount["payer_total"] == 9246 and amount["payer_currency"] == "CNY", "payer_total %s" % amount)
check(amount["exchange_rate"]["rate"] == 92460000, "exchange_rate %s" % amount)

code, text = wxpay._core.request("/v3/global/transactions/out-trade-no/%s?mchid=%s" % (out_trade_no, mchid))
queried = json.loads(text)
check(code == 200 and queried["trade_state"] == "SUCCESS" and queried["amount"]["payer_total"] == 9246, "query %s %s" % (code, text))

refund = {"out_trade_no": out_trade_no, "out_refund_no": "R" + out_trade_no, "amount": {"refund": 3000, "total": 10000, "currency": "HKD"}}
code, text = wxpay._core.request("/v3/global/refunds", method=RequestType.POST, data=refund)
refunded = json.loads(text)
check(code == 200 and refunded["amount"]["payer_refund"] == 2774, "refund at the original rate %s %s" % (code, text))
check(refunded["amount"]["exchange_rate"]["rate"] == 92460000, "the refund's rate is the payment's %s" % text)

day = queried["success_time"][:10].replace("-", "")
code, text = wxpay._core.request(
    "/v3/global/settle/settlements?settle_state=UNSETTLE&settle_start_date=%s&settle_end_date=%s&limit=10&offset=0" % (day, day))
batches = json.loads(text)
check(code == 200 and batches["data"][0]["amount"]["currency"] == "HKD", "settlement query %s %s" % (code, text))
check(batches["data"][0]["amount"]["unsettle"] == 7000, "what is left to settle: %s" % text)

print("GLOBAL SDK FLOW OK")
