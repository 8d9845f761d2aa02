// Drive the real npm `wechatpay-node-v3` SDK through a cross-border flow on the global API. The SDK
// wraps only the domestic paths, so the global ones are signed with its own buildAuthorization and
// getHeaders and sent through its HTTP service: an order in HKD -> a CNY wallet pays -> the callback
// (verified with the SDK's verifySign, decrypted with its decipher_gcm) carries payer_total and
// exchange_rate -> query -> partial refund at the original rate -> the settlement query.
// Run by crates/qianbao/tests/api/merchant_sdk.rs; prints "GLOBAL SDK FLOW OK" and exits 0 only if
// every step answered as WeChat Pay's global API would.
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


// A signed global call through the SDK: its Authorization, its headers, its HTTP service.
const call = (method, path, body) => {
  const url = WX + path;
  const headers = pay.getHeaders(pay.buildAuthorization(method, url, body), { 'Content-Type': 'application/json' });
  return method === 'GET' ? pay.httpService.get(url, headers) : pay.httpService.post(url, body, headers);
};

server.listen(0, '127.0.0.1', async () => {
  try {
    const notifyUrl = `http://127.0.0.1:${server.address().port}/wechatpay/notify`;
    const outTradeNo = 'GNODE' + crypto.randomBytes(8).toString('hex');
    let r = await call('POST', '/v3/global/transactions/native', {
      appid: env.APPID, mchid: env.MCHID, description: 'Egg tarts', out_trade_no: outTradeNo, notify_url: notifyUrl,
      trade_type: 'NATIVE', merchant_category_code: '5812', amount: { total: 10000, currency: 'HKD' },
    });
    check(r.status === 200 && r.data.code_url, 'global native: ' + JSON.stringify(r));
    const paid = await wallet('/api/v1/merchant-payments', { code_url: r.data.code_url, pin: env.WALLET_PIN });
    check(paid.status === 201 && paid.body.payer_currency === 'CNY', 'the CNY wallet paid: ' + JSON.stringify(paid));

    const cb = await nextCallback();
    check(cb !== null, 'the payment callback verifies');
    const amount = cb.resource.amount;
    check(amount.total === 10000 && amount.currency === 'HKD' && amount.payer_total === 9246 && amount.payer_currency === 'CNY', 'amount ' + JSON.stringify(amount));
    check(amount.exchange_rate.rate === 92460000, 'exchange_rate ' + JSON.stringify(amount));

    r = await call('GET', `/v3/global/transactions/out-trade-no/${outTradeNo}?mchid=${env.MCHID}`);
    check(r.status === 200 && r.data.trade_state === 'SUCCESS' && r.data.amount.payer_total === 9246, 'query ' + JSON.stringify(r));
    const day = r.data.success_time.slice(0, 10).replace(/-/g, '');

    r = await call('POST', '/v3/global/refunds', { out_trade_no: outTradeNo, out_refund_no: 'R' + outTradeNo, amount: { refund: 3000, total: 10000, currency: 'HKD' } });
    check(r.status === 200 && r.data.amount.payer_refund === 2774 && r.data.amount.exchange_rate.rate === 92460000, 'refund at the original rate ' + JSON.stringify(r));

    r = await call('GET', `/v3/global/settle/settlements?settle_state=UNSETTLE&settle_start_date=${day}&settle_end_date=${day}&limit=10&offset=0`);
    check(r.status === 200 && r.data.data[0].amount.currency === 'HKD', 'settlement query ' + JSON.stringify(r));
    console.log('GLOBAL SDK FLOW OK');
    process.exit(0);
  } catch (e) {
    fail(e.stack || String(e));
  }
});
