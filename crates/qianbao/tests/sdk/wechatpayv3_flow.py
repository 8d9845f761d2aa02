"""Drive the real PyPI `wechatpayv3` SDK against a running Qianbao, as a merchant would:
Native order -> a wallet pays -> the TRANSACTION.SUCCESS callback verified and decrypted by the SDK's
own callback() -> query -> partial refund -> the REFUND.SUCCESS callback -> refund query -> close.

Run by crates/qianbao/tests/merchant_sdk.rs with the merchant's settings in the environment. Prints
"SDK FLOW OK" and exits 0 only if every step answered as WeChat Pay would.
"""
import http.server
import json
import os
import queue
import threading
import urllib.request
import uuid

from wechatpayv3 import WeChatPay, WeChatPayType

env = os.environ
gateway = env["GATEWAY"]
callbacks = queue.Queue()


class Notify(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        result = wxpay.callback(dict(self.headers), body)  # verifies the signature, decrypts the resource
        self.send_response(200 if result else 400)
        self.end_headers()
        callbacks.put(result)

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Notify)
threading.Thread(target=server.serve_forever, daemon=True).start()
notify_url = "http://127.0.0.1:%d/wechatpay/notify" % server.server_port

mode = env["MODE"]
common = dict(
    wechatpay_type=WeChatPayType.NATIVE,
    mchid=env["MCHID"],
    private_key=open(env["KEY_FILE"]).read(),
    cert_serial_no=env["SERIAL"],
    appid=env["APPID"],
    apiv3_key=env["APIV3_KEY"],
    notify_url=notify_url,
)
if mode == "public_key":
    wxpay = WeChatPay(**common, public_key=open(env["PUBLIC_KEY_FILE"]).read(), public_key_id=env["PUBLIC_KEY_ID"])
else:
    wxpay = WeChatPay(**common, cert_dir=env["CERT_DIR"])
# The SDK has no base-URL option; this is the documented way to point it elsewhere.
wxpay._core._gate_way = gateway


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


out_trade_no = "SDK" + uuid.uuid4().hex[:20]
code, text = wxpay.pay(description="Qianbao SDK test 测试", out_trade_no=out_trade_no, amount={"total": 888}, attach="sdk")
check(code == 200, "pay: %s %s" % (code, text))
code_url = json.loads(text)["code_url"]

paid = wallet("/api/v1/merchant-payments", {"code_url": code_url, "pin": env["WALLET_PIN"]})
check(paid["state"] == "SUCCESS", "the wallet paid: %s" % paid)

event = callbacks.get(timeout=20)
check(event is not None, "the payment callback verifies and decrypts")
check(event["event_type"] == "TRANSACTION.SUCCESS", "event type %s" % event)
resource = event["resource"]
check(resource["out_trade_no"] == out_trade_no and resource["trade_state"] == "SUCCESS", "resource %s" % resource)
check(resource["amount"]["total"] == 888 and resource["attach"] == "sdk", "amount and attach %s" % resource)
transaction_id = resource["transaction_id"]

code, text = wxpay.query(out_trade_no=out_trade_no)
check(code == 200 and json.loads(text)["trade_state"] == "SUCCESS", "query %s %s" % (code, text))
code, text = wxpay.query(transaction_id=transaction_id)
check(code == 200 and json.loads(text)["out_trade_no"] == out_trade_no, "query by transaction_id %s %s" % (code, text))

out_refund_no = "R" + out_trade_no
code, text = wxpay.refund(out_refund_no=out_refund_no, amount={"refund": 300, "total": 888, "currency": "CNY"}, transaction_id=transaction_id, reason="SDK test")
check(code == 200 and json.loads(text)["status"] in ("SUCCESS", "PROCESSING"), "refund %s %s" % (code, text))

event = callbacks.get(timeout=20)
check(event is not None, "the refund callback verifies and decrypts")
check(event["event_type"] == "REFUND.SUCCESS", "refund event %s" % event)
check(event["resource"]["out_refund_no"] == out_refund_no and event["resource"]["amount"]["refund"] == 300, "refund resource %s" % event)

code, text = wxpay.query_refund(out_refund_no=out_refund_no)
check(code == 200 and json.loads(text)["amount"]["refund"] == 300, "refund query %s %s" % (code, text))

other = "SDK" + uuid.uuid4().hex[:20]
code, _ = wxpay.pay(description="to close", out_trade_no=other, amount={"total": 1})
check(code == 200, "second order")
code, body = wxpay.close(out_trade_no=other)
check(code == 204, "close answers a signed 204: %s %s" % (code, body))

print("SDK FLOW OK")
