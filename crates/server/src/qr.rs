//! EMV QR payloads as JSON, for the people who debug codes (`qianbao qr decode|encode`) and for apps:
//! the objects as they came (templates opened), the national schemes recognised, and the verdict
//! (`valid`, or every rule the payload breaks, each naming its field).

use emvqr::{Object, Payload, Scheme};
use serde_json::{Value, json};

/// The decoded payload and its verdict; `valid` is false when it cannot be read or breaks a rule. A
/// consumer-presented payload (base64 BER-TLV) is decoded as its tag tree.
pub fn decode(payload: &str) -> Value {
    if emvqr::cpm::looks_like(payload) {
        return match emvqr::cpm::parse(payload) {
            Ok(objects) => json!({"valid": true, "mode": "cpm", "objects": objects.iter().map(tlv_json).collect::<Vec<_>>()}),
            Err(e) => json!({"valid": false, "mode": "cpm", "error": e.to_string()}),
        };
    }
    let p = match emvqr::parse(payload) {
        Ok(p) => p,
        Err(e) => return json!({"valid": false, "error": e.to_string()}),
    };
    let refusals: Vec<Value> = emvqr::validate(&p).into_iter().map(|r| json!({"field": r.field, "rule": r.rule})).collect();
    let schemes: Vec<Value> = emvqr::schemes(&p).into_iter().map(|(id, s)| scheme_json(id, &s)).collect();
    json!({
        "valid": refusals.is_empty(),
        "mode": "mpm",
        "refusals": refusals,
        "objects": p.objects.iter().map(object_json).collect::<Vec<_>>(),
        "schemes": schemes,
    })
}

/// A BER-TLV object: its tag in hex, and its value as hex (and as text when it is printable) or its
/// children.
fn tlv_json(t: &emvqr::cpm::Tlv) -> Value {
    let tag = format!("{:X}", t.tag);
    match &t.value {
        emvqr::cpm::Value::Constructed(children) => json!({"tag": tag, "template": children.iter().map(tlv_json).collect::<Vec<_>>()}),
        emvqr::cpm::Value::Primitive(bytes) => {
            let text = std::str::from_utf8(bytes).ok().filter(|s| s.bytes().all(|b| (0x20..=0x7e).contains(&b)));
            json!({"tag": tag, "hex": emvqr::cpm::hex(bytes), "text": text})
        }
    }
}

/// The longest text rendered as a QR code (characters): an EMV payload is at most 512.
pub const RENDER_CHARS_MAX: usize = 1024;
/// PNG: pixels per module, and the quiet zone (modules) the QR specification asks for.
const PNG_MODULE_PX: u32 = 8;
const QUIET_ZONE_MODULES: u32 = 4;

fn code(data: &str) -> Result<qrcode::QrCode, String> {
    if data.is_empty() || data.chars().count() > RENDER_CHARS_MAX {
        return Err(format!("1 to {RENDER_CHARS_MAX} characters"));
    }
    // Level M, as EMV QR codes are commonly printed; byte mode carries UTF-8 (template 64).
    qrcode::QrCode::with_error_correction_level(data.as_bytes(), qrcode::EcLevel::M).map_err(|e| e.to_string())
}

/// The QR code of `data` as an SVG document.
pub fn render_svg(data: &str) -> Result<String, String> {
    let svg = code(data)?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(256, 256)
        .quiet_zone(true)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build();
    Ok(svg)
}

/// The QR code of `data` as a grayscale PNG (8 pixels a module, the 4-module quiet zone).
pub fn render_png(data: &str) -> Result<Vec<u8>, String> {
    let code = code(data)?;
    let width = code.width() as u32;
    let colors = code.to_colors();
    let side = (width + 2 * QUIET_ZONE_MODULES) * PNG_MODULE_PX;
    let mut pixels = vec![255u8; (side * side) as usize];
    for (i, color) in colors.iter().enumerate() {
        if *color != qrcode::Color::Dark {
            continue;
        }
        let (mx, my) = (i as u32 % width + QUIET_ZONE_MODULES, i as u32 / width + QUIET_ZONE_MODULES);
        for y in my * PNG_MODULE_PX..(my + 1) * PNG_MODULE_PX {
            let row = (y * side) as usize;
            pixels[row + (mx * PNG_MODULE_PX) as usize..row + ((mx + 1) * PNG_MODULE_PX) as usize].fill(0);
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(&pixels).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

fn object_json(o: &Object) -> Value {
    let mut out = json!({"id": format!("{:02}", o.id), "value": o.value});
    let template = (26..=51).contains(&o.id) || o.id == 62 || o.id == 64 || (80..=99).contains(&o.id);
    if template && let Ok(inner) = emvqr::objects(&o.value) {
        out["template"] = inner.iter().map(object_json).collect::<Vec<_>>().into();
    }
    out
}

fn scheme_json(id: u8, s: &Scheme) -> Value {
    let template = format!("{id:02}");
    match s {
        Scheme::Fps { clearing_code, fps_id, mobile, email } => {
            json!({"template": template, "scheme": "fps", "clearing_code": clearing_code, "fps_id": fps_id, "mobile": mobile, "email": email})
        }
        Scheme::PayNow { proxy_type, proxy_value, amount_editable, expiry } => json!({"template": template, "scheme": "paynow",
            "proxy_type": proxy_type, "proxy_value": proxy_value, "amount_editable": amount_editable, "expiry": expiry}),
        Scheme::PromptPay { mobile, national_id, e_wallet } => {
            json!({"template": template, "scheme": "promptpay", "mobile": mobile, "national_id": national_id, "e_wallet": e_wallet})
        }
        Scheme::Pix { key, description, url } => {
            json!({"template": template, "scheme": "pix", "key": key, "description": description, "url": url})
        }
        Scheme::Qris { merchant_id, criteria } => {
            json!({"template": template, "scheme": "qris", "merchant_id": merchant_id, "criteria": criteria})
        }
        Scheme::Other { guid, fields } => {
            json!({"template": template, "scheme": "other", "guid": guid, "fields": fields.iter().map(object_json).collect::<Vec<_>>()})
        }
    }
}

/// A payload from `{"objects": [{"id": "00", "value": "01"}, {"id": "26", "template": [...]}, ...]}`,
/// in canonical order with its CRC; the error names what is wrong.
pub fn encode(spec: &Value) -> Result<String, String> {
    let list = spec["objects"].as_array().ok_or("a JSON object with \"objects\": a list of {id, value} or {id, template}")?;
    let mut p = Payload::default();
    for item in list {
        let (id, value) = object_from(item)?;
        if p.get(id).is_some() {
            return Err(format!("ID {id:02} is given twice"));
        }
        p.set(id, Some(value));
    }
    Ok(p.build())
}

fn object_from(item: &Value) -> Result<(u8, String), String> {
    let id = item["id"].as_str().filter(|t| t.len() == 2).and_then(|t| t.parse::<u8>().ok()).ok_or("each id is two digits, as a string")?;
    let value = match (&item["value"], &item["template"]) {
        (Value::String(v), Value::Null) => v.clone(),
        (Value::Null, Value::Array(inner)) => {
            let mut text = String::new();
            for o in inner {
                let (sub, v) = object_from(o)?;
                text.push_str(&tlv(sub, &v)?);
            }
            text
        }
        _ => return Err(format!("ID {id:02}: give \"value\" (a string) or \"template\" (a list)")),
    };
    let chars = value.chars().count();
    if !(1..=99).contains(&chars) {
        return Err(format!("ID {id:02}: a value of 1 to 99 characters, not {chars}"));
    }
    Ok((id, value))
}

fn tlv(id: u8, value: &str) -> Result<String, String> {
    let chars = value.chars().count();
    if !(1..=99).contains(&chars) {
        return Err(format!("ID {id:02}: a value of 1 to 99 characters, not {chars}"));
    }
    Ok(emvqr::tlv(id, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMVCO_SAMPLE: &str = "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.7253031565502016233030412340603***0708A60086670902ME91320016A0112233449988770708123456786304A13A";

    #[test]
    fn a_decoded_payload_encodes_back_to_a_payload_with_the_same_objects() {
        let decoded = decode(EMVCO_SAMPLE);
        assert_eq!(decoded["valid"], true, "{decoded}");
        let spec = json!({"objects": decoded["objects"].as_array().unwrap().iter().map(|o| json!({"id": o["id"], "value": o["value"]})).collect::<Vec<_>>()});
        let again = decode(&encode(&spec).unwrap());
        let ids = |v: &Value| {
            let mut ids: Vec<String> = v["objects"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_string()).collect();
            ids.sort();
            ids
        };
        assert_eq!(ids(&again), ids(&decoded));
        assert_eq!(again["valid"], true);
    }

    #[test]
    fn a_wrong_crc_is_a_verdict_not_a_crash() {
        let decoded = decode(&EMVCO_SAMPLE.replace("A13A", "0000"));
        assert_eq!(decoded["valid"], false);
        assert!(decoded["error"].as_str().unwrap().contains("CRC"), "{decoded}");
    }

    #[test]
    fn encoding_refuses_what_no_payload_can_hold() {
        assert!(encode(&json!({"objects": [{"id": "0", "value": "01"}]})).is_err());
        assert!(encode(&json!({"objects": [{"id": "59", "value": ""}]})).is_err());
        assert!(encode(&json!({"objects": [{"id": "00", "value": "01"}, {"id": "00", "value": "01"}]})).is_err());
        assert!(encode(&json!({"objects": [{"id": "26", "template": [{"id": "00", "value": "x".repeat(100)}]}]})).is_err());
    }
}

#[derive(serde::Deserialize)]
pub(crate) struct ImageQuery {
    data: String,
}

fn image(uri: &axum::http::Uri, render: impl Fn(&str) -> Result<(&'static str, Vec<u8>), String>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let rendered =
        crate::http::query::<ImageQuery>(uri).map_err(|e| format!("?data=<the text to encode>: {e}")).and_then(|q| render(&q.data));
    match rendered {
        Ok((content_type, bytes)) => ([("content-type", content_type), ("cache-control", "public, max-age=86400")], bytes).into_response(),
        Err(e) => crate::http::error(axum::http::StatusCode::BAD_REQUEST, "PARAM_ERROR", &format!("data: {e}")),
    }
}

/// Renders at once at most (each is CPU work of a millisecond or two, and a PNG a few hundred KiB of
/// memory while it is drawn); more wait their turn.
static RENDERS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

/// Render off the async runtime, a few at a time.
async fn rendered(uri: axum::http::Uri, png: bool) -> axum::response::Response {
    let Ok(_permit) = RENDERS.acquire().await else {
        return crate::http::error(axum::http::StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "rendering is shutting down");
    };
    let render = move || {
        if png {
            image(&uri, |d| render_png(d).map(|b| ("image/png", b)))
        } else {
            image(&uri, |d| render_svg(d).map(|s| ("image/svg+xml", s.into_bytes())))
        }
    };
    tokio::task::spawn_blocking(render)
        .await
        .unwrap_or_else(|_| crate::http::error(axum::http::StatusCode::INTERNAL_SERVER_ERROR, "SYSTEM_ERROR", "rendering failed"))
}

/// `GET /qr/code.svg?data=...`: any payload (a code_url, an EMV payload) as a QR code, SVG.
pub(crate) async fn svg(uri: axum::http::Uri) -> axum::response::Response {
    rendered(uri, false).await
}

/// `GET /qr/code.png?data=...`: the same as PNG.
pub(crate) async fn png(uri: axum::http::Uri) -> axum::response::Response {
    rendered(uri, true).await
}
