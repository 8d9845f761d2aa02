// Drive the real npm `wechatpay-node-v3` SDK against a running Qianbao, as a merchant would:
// Native order -> a wallet pays -> the TRANSACTION.SUCCESS callback verified with the SDK's verifySign
// (which downloads /v3/certificates itself) and decrypted with its decipher_gcm -> query -> partial refund
// -> the REFUND.SUCCESS callback -> refund query -> close.
// Run by crates/qianbao/tests/merchant_sdk.rs with the merchant's settings in the environment. Prints
// "SDK FLOW OK" and exits 0 only if every step answered as WeChat Pay would.
const http = require('http');
const fs = require('fs');
const crypto = require('crypto');
const WxPay = require('wechatpay-node-v3');
const { PayRequest } = require('wechatpay-node-v3/dist/lib/pay-request');

const env = process.env;
const WX = 'https://api.mch.weixin.qq.com';
const fail = (what) => { console.error('FAILED: ' + what); process.exit(1); };
const check = (ok, what) => { if (!ok) fail(what); };

const pay = new WxPay({
  appid: env.APPID, mchid: env.MCHID, serial_no: env.SERIAL,
  publicKey: fs.readFileSync(env.PUBLIC_KEY_FILE), privateKey: fs.readFileSync(env.KEY_FILE), key: env.APIV3_KEY,
});
// The SDK's own hook for a custom HTTP service: the same requests, sent to Qianbao instead.
const inner = new PayRequest();
pay.createHttp({
  post: (url, params, headers) => inner.post(url.replace(WX, env.GATEWAY), params, headers),
  get: (url, headers) => inner.get(url.replace(WX, env.GATEWAY), headers),
  put: (url, params, headers) => inner.put(url.replace(WX, env.GATEWAY), params, headers),
  upload: (url, params, headers) => inner.upload(url.replace(WX, env.GATEWAY), params, headers),
});

const callbacks = [];
let waiting = null;
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', async () => {
    const h = req.headers;
    let ok = false;
    try {
      ok = await pay.verifySign({ timestamp: h['wechatpay-timestamp'], nonce: h['wechatpay-nonce'], body, serial: h['wechatpay-serial'], signature: h['wechatpay-signature'], apiSecret: env.APIV3_KEY });
    } catch (e) { console.error('verifySign: ' + e); }
    res.writeHead(ok ? 200 : 400); res.end();
    const event = JSON.parse(body);
    const r = event.resource;
    callbacks.push(ok ? { event, resource: pay.decipher_gcm(r.ciphertext, r.associated_data, r.nonce, env.APIV3_KEY) } : null);
    if (waiting) { const w = waiting; waiting = null; w(); }
  });
});

const nextCallback = () => new Promise((resolve, reject) => {
  const done = () => resolve(callbacks.shift());
  if (callbacks.length) return done();
  const timer = setTimeout(() => reject(new Error('no callback within 20 s')), 20000);
  waiting = () => { clearTimeout(timer); done(); };
});

const wallet = (path, body) => new Promise((resolve, reject) => {
  const data = JSON.stringify(body);
  const req = http.request(env.GATEWAY + path, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data), Authorization: 'Bearer ' + env.WALLET_TOKEN, 'Idempotency-Key': crypto.randomUUID() } }, (res) => {
    let text = ''; res.on('data', (c) => { text += c; }); res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(text) }));
  });
  req.on('error', reject); req.end(data);
});

server.listen(0, '127.0.0.1', async () => {
  try {
    const notifyUrl = `http://127.0.0.1:${server.address().port}/wechatpay/notify`;
    const outTradeNo = 'NODE' + crypto.randomBytes(8).toString('hex');
    let r = await pay.transactions_native({ description: 'Qianbao Node SDK test', out_trade_no: outTradeNo, notify_url: notifyUrl, amount: { total: 777 } });
    check(r.status === 200 && r.data.code_url, 'native: ' + JSON.stringify(r));
    const paid = await wallet('/api/v1/merchant-payments', { code_url: r.data.code_url, pin: env.WALLET_PIN });
    check(paid.status === 201, 'the wallet paid: ' + JSON.stringify(paid));

    let cb = await nextCallback();
    check(cb !== null, 'the payment callback verifies');
    check(cb.event.event_type === 'TRANSACTION.SUCCESS' && cb.resource.out_trade_no === outTradeNo && cb.resource.trade_state === 'SUCCESS', 'payment callback ' + JSON.stringify(cb));
    const transactionId = cb.resource.transaction_id;

    r = await pay.query({ out_trade_no: outTradeNo });
    check(r.status === 200 && r.data.trade_state === 'SUCCESS', 'query ' + JSON.stringify(r));
    r = await pay.query({ transaction_id: transactionId });
    check(r.status === 200 && r.data.out_trade_no === outTradeNo, 'query by transaction_id ' + JSON.stringify(r));

    const outRefundNo = 'R' + outTradeNo;
    r = await pay.refunds({ transaction_id: transactionId, out_refund_no: outRefundNo, notify_url: notifyUrl, amount: { refund: 300, total: 777, currency: 'CNY' } });
    check(r.status === 200 && r.data.status === 'SUCCESS', 'refund ' + JSON.stringify(r));
    cb = await nextCallback();
    check(cb !== null && cb.event.event_type === 'REFUND.SUCCESS' && cb.resource.out_refund_no === outRefundNo, 'refund callback ' + JSON.stringify(cb));
    r = await pay.find_refunds(outRefundNo);
    check(r.status === 200 && r.data.amount.refund === 300, 'refund query ' + JSON.stringify(r));

    const other = 'NODE' + crypto.randomBytes(8).toString('hex');
    r = await pay.transactions_native({ description: 'to close', out_trade_no: other, notify_url: notifyUrl, amount: { total: 1 } });
    check(r.status === 200, 'second order ' + JSON.stringify(r));
    r = await pay.close(other);
    check(r.status === 204, 'close ' + JSON.stringify(r));
    console.log('SDK FLOW OK');
    process.exit(0);
  } catch (e) {
    fail(e.stack || String(e));
  }
});
