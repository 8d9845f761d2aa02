//! EMV QR payloads as JSON, for the people who debug codes (`qianbao qr decode|encode`) and for apps:
//! the objects as they came (templates opened), the national schemes recognised, and the verdict
//! (`valid`, or every rule the payload breaks, each naming its field).

use emvqr::{Object, Payload, Scheme};
use serde_json::{Value, json};

/// The decoded payload and its verdict; `valid` is false when it cannot be read or breaks a rule.
pub fn decode(payload: &str) -> Value {
    let p = match emvqr::parse(payload) {
        Ok(p) => p,
        Err(e) => return json!({"valid": false, "error": e.to_string()}),
    };
    let refusals: Vec<Value> = emvqr::validate(&p).into_iter().map(|r| json!({"field": r.field, "rule": r.rule})).collect();
    let schemes: Vec<Value> = emvqr::schemes(&p).into_iter().map(|(id, s)| scheme_json(id, &s)).collect();
    json!({
        "valid": refusals.is_empty(),
        "refusals": refusals,
        "objects": p.objects.iter().map(object_json).collect::<Vec<_>>(),
        "schemes": schemes,
    })
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
