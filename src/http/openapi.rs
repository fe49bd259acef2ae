//! `GET /openapi.json`: the OpenAPI 3.1 description of every route. A test reads the router's source and
//! fails when a route is missing here.

use serde_json::{Value, json};

fn error_responses() -> Value {
    json!({
        "400": {"$ref": "#/components/responses/Error"},
        "401": {"$ref": "#/components/responses/Error"},
        "404": {"$ref": "#/components/responses/Error"},
        "408": {"$ref": "#/components/responses/Error"},
        "413": {"$ref": "#/components/responses/Error"},
        "415": {"$ref": "#/components/responses/Error"},
        "422": {"$ref": "#/components/responses/Error"},
        "503": {"$ref": "#/components/responses/Error"}
    })
}

fn ok(description: &str, schema: Value) -> Value {
    let mut r = error_responses();
    r["200"] =
        json!({"description": description, "content": {"application/json": {"schema": schema}}});
    r
}

/// The channels the server knows; an empty value is no filter.
fn channels(empty_ok: bool) -> Value {
    let mut names: Vec<&str> = crate::message::Channel::ALL
        .iter()
        .map(|c| c.as_str())
        .collect();
    if empty_ok {
        names.push("");
    }
    json!({"type": "string", "enum": names})
}

fn query(name: &str, description: &str) -> Value {
    if name == "channel" {
        return query_schema(name, description, channels(true));
    }
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": {"type": "string"}})
}

/// A query parameter with its own schema: what the server accepts, no more and no less.
fn query_schema(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
}

/// `since` and `until`: a date or an RFC 3339 time (an empty value is no filter).
fn query_time(name: &str, description: &str) -> Value {
    query_schema(
        name,
        description,
        json!({"oneOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}, {"type": "string", "maxLength": 0}]}),
    )
}

fn path_id(description: &str) -> Value {
    json!({"name": "id", "in": "path", "required": true, "description": description, "schema": {"type": "string"}})
}

/// The document.
pub fn document() -> Value {
    let staff = json!([{"staff": []}]);
    let webhook = json!([{"webhook": []}, {}]);
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "parcours",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "One customer-service agent for every channel. Bad input gets a 4xx with {\"error\": \"...\"}; bodies over 64 KiB get 413."
        },
        "components": {
            "securitySchemes": {
                "staff": {"type": "http", "scheme": "bearer", "description": "PARCOURS_STAFF_TOKEN"},
                "webhook": {"type": "http", "scheme": "bearer", "description": "PARCOURS_WEBHOOK_TOKEN, when set"}
            },
            "responses": {
                "Error": {"description": "Bad input", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}}}}
            },
            "schemas": {
                "Owner": {"type": "object", "required": ["kind"], "properties": {
                    "kind": {"type": "string", "enum": ["bot", "waiting", "staff"]},
                    "since": {"type": "integer", "description": "ms since the epoch"},
                    "reason": {"type": "string"}, "callback": {"type": "boolean"}, "ticket": {"type": "boolean"},
                    "name": {"type": "string", "description": "the member of staff"}}},
                "ConversationSummary": {"type": "object", "properties": {
                    "id": {"type": "string"}, "customer_id": {"type": "string"}, "channel": {"type": "string"},
                    "started_at": {"type": "string", "format": "date-time"}, "ended_at": {"type": ["string", "null"]},
                    "outcome": {"enum": ["resolved", "abandoned", "handed_off", "unresolved", null]},
                    "intents": {"type": "array", "items": {"type": "string"}}, "rating": {"type": ["integer", "null"]},
                    "turns": {"type": "integer"}, "irritants": {"type": "integer"}}},
                "Counts": {"type": "object", "properties": {
                    "conversations": {"type": "integer"}, "resolved": {"type": "integer"},
                    "resolution_rate": {"type": ["number", "null"]}, "responses": {"type": "integer"},
                    "promoters": {"type": "integer"}, "passives": {"type": "integer"}, "detractors": {"type": "integer"},
                    "nps": {"type": ["number", "null"]}, "solved_yes": {"type": "integer"}, "solved_no": {"type": "integer"},
                    "irritants": {"type": "integer"}}}
            }
        },
        "paths": {
            "/healthz": {"get": {"summary": "Liveness: the store can write", "responses": {"200": {"description": "ok"}, "503": {"description": "the store cannot write (a full disk); Retry-After"}}}},
            "/readyz": {"get": {"summary": "Readiness, for load balancers: the store can write", "responses": {"200": {"description": "ok"}, "503": {"description": "the store cannot write; Retry-After"}}}},
            "/": {"get": {"summary": "The staff console (a web page that signs in with the staff token)",
                "responses": {"200": {"description": "HTML", "content": {"text/html": {}}}}}},
            "/console.js": {"get": {"summary": "The staff console's script",
                "responses": {"200": {"description": "JavaScript", "content": {"text/javascript": {}}}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text format 0.0.4", "content": {"text/plain": {}}}}}},
            "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}},
            "/webhook/voice": {"post": {
                "summary": "A transcript from any voice assistant or phone system",
                "security": webhook,
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["session_id", "user_id", "transcript"],
                    "properties": {"session_id": {"type": "string", "minLength": 1, "maxLength": 256, "pattern": "\\S"},
                        "user_id": {"type": "string", "minLength": 1, "maxLength": 256, "pattern": "\\S"},
                        "transcript": {"type": "string"}, "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                        "locale": {"type": "string", "examples": ["fr-FR"]}}}}}},
                "responses": ok("The answer as text and SSML", json!({"type": "object", "properties": {
                    "conversation_id": {"type": "string"}, "text": {"type": "string"}, "ssml": {"type": "string"},
                    "end_session": {"type": "boolean"}, "intent": {"type": "string"},
                    "handoff": {"type": "object", "description": "a person has the conversation or is awaited; their replies come on the next turn",
                        "properties": {"state": {"type": "string", "enum": ["waiting", "staff"]}, "position": {"type": "integer"},
                            "staff": {"type": "string"}, "reference": {"type": "string"}, "started": {"type": "boolean"}}}}}))}},
            "/webhook/twilio": {"post": {
                "summary": "A Twilio <Gather input=\"speech\"> callback; answers TwiML",
                "description": "X-Twilio-Signature is checked when TWILIO_AUTH_TOKEN is set (403 otherwise).",
                "requestBody": {"required": true, "content": {"application/x-www-form-urlencoded": {"schema": {
                    "type": "object", "required": ["CallSid", "From"], "properties": {
                        "CallSid": {"type": "string", "minLength": 1}, "From": {"type": "string", "minLength": 1}, "SpeechResult": {"type": "string"},
                        "Confidence": {"type": "string"}, "Digits": {"type": "string"}, "CallStatus": {"type": "string"}}}}}},
                "responses": {"200": {"description": "TwiML", "content": {"text/xml": {}}}, "400": {"$ref": "#/components/responses/Error"},
                    "403": {"$ref": "#/components/responses/Error"}}}},
            "/webhook/alexa": {"post": {
                "summary": "An Alexa Skills Kit request (free text in the Query slot)",
                "security": webhook,
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object",
                    "required": ["request"], "properties": {
                        "session": {"type": "object", "required": ["sessionId"], "properties": {"sessionId": {"type": "string"}}},
                        "context": {"type": "object"},
                        "request": {"type": "object", "required": ["type"], "properties": {
                            "type": {"type": "string", "examples": ["LaunchRequest", "IntentRequest", "SessionEndedRequest"]},
                            "locale": {"type": "string"}, "intent": {"type": "object", "required": ["name"]}}}}}}}},
                "responses": ok("An Alexa response (outputSpeech SSML, reprompt, shouldEndSession)", json!({"type": "object"}))}},
            "/webhook/telegram": {"post": {
                "summary": "A Telegram update (webhook mode); X-Telegram-Bot-Api-Secret-Token checked",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {"200": {"description": "handled"}, "400": {"$ref": "#/components/responses/Error"},
                    "403": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}}},
            "/api/conversations": {"get": {
                "summary": "Conversations, newest first, a page at a time",
                "security": staff,
                "parameters": [query_schema("channel", "chat, voice, twilio, alexa or telegram",
                        json!({"type": "string", "enum": ["", "chat", "voice", "twilio", "alexa", "telegram"]})),
                    query_time("since", "date or RFC 3339 time"), query_time("until", "date (included) or time (excluded)"),
                    query("intent", "served this intent"), query("customer", "customer id"),
                    query_schema("max_rating", "rating at most (0-10); empty: no filter",
                        json!({"oneOf": [{"type": "integer", "minimum": 0, "maximum": 10}, {"type": "string", "maxLength": 0}]})),
                    query_schema("irritant", "true: with irritants only", json!({"type": "boolean"})),
                    query_schema("limit", "default 50; above 500, 500", json!({"type": "integer", "minimum": 1})),
                    query("cursor", "next_cursor of the previous page")],
                "responses": ok("A page", json!({"type": "object", "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/ConversationSummary"}},
                    "next_cursor": {"type": ["string", "null"]}}}))}},
            "/api/conversations/{id}": {"get": {
                "summary": "A transcript: turns with time, speaker, text, intent, confidence, irritants; outcome; survey",
                "security": staff, "parameters": [path_id("conversation id")],
                "responses": ok("The transcript", json!({"type": "object"}))}},
            "/api/customers/{id}": {
                "get": {"summary": "Profile: identities per channel, attributes, touchpoints", "security": staff,
                    "parameters": [path_id("customer id")], "responses": ok("The profile", json!({"type": "object"}))},
                "delete": {"summary": "Erase the customer: profile, identities, transcripts (reports keep anonymous counts)",
                    "security": staff, "parameters": [path_id("customer id")],
                    "responses": ok("Erased", json!({"type": "object", "properties": {"erased": {"type": "string"},
                        "conversations_anonymised": {"type": "integer"}}}))}},
            "/api/customers/{id}/export": {"get": {"summary": "Everything held on the customer", "security": staff,
                "parameters": [path_id("customer id")], "responses": ok("The export", json!({"type": "object"}))}},
            "/api/customers/{id}/journey": {"get": {"summary": "The customer's touchpoints across channels", "security": staff,
                "parameters": [path_id("customer id")], "responses": ok("The journey", json!({"type": "object"}))}},
            "/api/customers/{id}/merge": {"post": {"summary": "Merge this customer into another", "security": staff,
                "parameters": [path_id("customer id")],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object",
                    "required": ["into"], "properties": {"into": {"type": "string", "minLength": 1}}}}}},
                "responses": ok("Merged", json!({"type": "object"}))}},
            "/api/customers/{id}/split": {"post": {"summary": "Move one identity and its conversations to a new customer",
                "security": staff, "parameters": [path_id("customer id")],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object",
                    "required": ["channel", "id"], "properties": {"channel": channels(false), "id": {"type": "string", "minLength": 1}}}}}},
                "responses": ok("Split", json!({"type": "object"}))}},
            "/api/reports/journeys": {"get": {
                "summary": "Channel paths (voice then Telegram within 7 days) and the repeat contact rate",
                "security": staff,
                "parameters": [query_time("since", "date or time"), query_time("until", "date or time"), query("channel", "channel")],
                "responses": ok("Journeys", json!({"type": "object", "properties": {
                    "customers": {"type": "integer"}, "channel_paths": {"type": "object"},
                    "contacts": {"type": "integer"}, "repeat_contacts": {"type": "integer"},
                    "repeat_contact_rate": {"type": ["number", "null"]}, "repeats_by_intent": {"type": "object"}}}))}},
            "/api/reports/satisfaction": {"get": {
                "summary": "NPS, resolution rate and irritants, by channel, intent and period",
                "security": staff,
                "parameters": [query_time("since", "date or time"), query_time("until", "date or time"), query("channel", "channel"),
                    query("intent", "intent"), query("period", "day, week or month")],
                "responses": ok("The report", json!({"allOf": [{"$ref": "#/components/schemas/Counts"}, {"type": "object", "properties": {
                    "by_channel": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/Counts"}},
                    "by_intent": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/Counts"}},
                    "by_period": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/Counts"}},
                    "moments_of_truth": {"type": "array"}, "irritants_by_kind": {"type": "object"}}}]}))}}
        }
    });
    if let (Some(paths), Value::Object(more)) = (doc["paths"].as_object_mut(), people_paths()) {
        paths.extend(more);
    }
    fulfillment(&mut doc);
    doc
}

/// The people side: the queue, staff actions, events, and Twilio's queue callbacks.
fn people_paths() -> Value {
    let staff = json!([{"staff": []}]);
    let conv = || vec![path_id("conversation id")];
    let owner = json!({"type": "object", "properties": {"conversation": {"type": "string"},
        "owner": {"$ref": "#/components/schemas/Owner"}}});
    let action = |summary: &str, body: Value| {
        let mut op = json!({"summary": summary, "security": staff, "parameters": conv(),
            "responses": ok("Done", owner.clone())});
        op["responses"]["409"] = json!({"$ref": "#/components/responses/Error"});
        if !body.is_null() {
            op["requestBody"] =
                json!({"required": false, "content": {"application/json": {"schema": body}}});
        }
        json!({"post": op})
    };
    let twilio = |summary: &str| {
        json!({"post": {"summary": summary,
            "description": "Twilio's callback; X-Twilio-Signature is checked when TWILIO_AUTH_TOKEN is set.",
            "parameters": [{"name": "conversation", "in": "query", "required": true, "schema": {"type": "string"}}],
            "requestBody": {"required": false, "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}}},
            "responses": {"200": {"description": "TwiML", "content": {"text/xml": {}}},
                "403": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}}})
    };
    json!({
        "/api/queue": {"get": {"summary": "Conversations waiting for a person or owned by one, oldest first",
            "security": staff, "responses": ok("The queue", json!({"type": "object", "properties": {"items": {"type": "array",
                "items": {"type": "object", "properties": {"id": {"type": "string"}, "channel": channels(false),
                    "customer": {"type": "string"}, "lang": {"type": "string"}, "waiting_since": {"type": "integer"},
                    "waiting_seconds": {"type": "integer"}, "owner": {"$ref": "#/components/schemas/Owner"},
                    "position": {"type": "integer", "description": "place among those waiting (1 = next)"},
                    "summary": {"type": "array", "items": {"type": "string"}, "minItems": 3, "maxItems": 3,
                        "description": "what the customer wants, what the bot did, what is still missing"}}}}}}))}},
        "/api/me": {"get": {"summary": "The member of staff the token belongs to", "security": staff,
            "responses": ok("Name", json!({"type": "object", "properties": {"name": {"type": "string"}}}))}},
        "/api/staff": {"get": {"summary": "The members of staff (to transfer to)", "security": staff,
            "responses": ok("Names", json!({"type": "object", "properties": {"staff": {"type": "array", "items": {"type": "string"}}}}))}},
        "/api/events": {"get": {"summary": "Server-sent events: handoff, claimed, transferred, staff_message, note, customer_message, callback, cancelled, ticket, released, closed",
            "security": staff, "responses": {"200": {"description": "text/event-stream; each event's data is JSON: kind, conversation, channel, customer, owner, at, author, text",
                "content": {"text/event-stream": {}}}, "401": {"$ref": "#/components/responses/Error"}}}},
        "/api/conversations/{id}/handoff": action("Put the conversation in the queue for a person",
            json!({"type": "object", "properties": {"reason": {"type": "string"}}})),
        "/api/conversations/{id}/claim": action("The calling member of staff takes the conversation; the bot goes silent", json!({"type": "object"})),
        "/api/conversations/{id}/messages": action("A reply delivered on the customer's channel with the staff member's name (claims if nobody has it), or a private note",
            json!({"type": "object", "required": ["text"], "properties": {"text": {"type": "string", "minLength": 1, "pattern": "\\S"},
                "private": {"type": "boolean", "default": false}}})),
        "/api/conversations/{id}/typing": action("Show the customer that someone is writing (Telegram)", Value::Null),
        "/api/conversations/{id}/transfer": action("Pass the conversation to another member of staff",
            json!({"type": "object", "required": ["to"], "properties": {"to": {"type": "string"}}})),
        "/api/conversations/{id}/release": action("Hand the conversation back to the bot, with an optional note",
            json!({"type": "object", "properties": {"note": {"type": "string"}}})),
        "/api/conversations/{id}/close": action("Close the conversation (handled by a person)", Value::Null),
        "/webhook/twilio/wait": twilio("What a queued caller hears in a loop: their place, and 1 for a call back"),
        "/webhook/twilio/wait-key": twilio("The keypad while waiting: 1 is a call back"),
        "/webhook/twilio/agent": twilio("The staff phone answered: take the caller from their queue, after the whisper"),
        "/webhook/twilio/whisper": twilio("What the person answering hears before the bridge: the summary"),
        "/webhook/twilio/queue-done": twilio("The caller left the queue or the dialled call: unanswered is a call back"),
        "/webhook/twilio/pending": twilio("The answer of a turn that took more than a second (a slow lookup): Twilio comes back here after the filler"),
    })
}

/// The fulfillment protocol: what parcours sends the business's backend and what it must answer, as a
/// 3.1 `webhooks` entry and as a callback of every channel's route, with one example per shipped intent
/// that uses it.
fn fulfillment(doc: &mut Value) {
    let customer = json!({"id": "cus_alice", "identities": [{"channel": "telegram", "id": "421337"},
        {"channel": "twilio", "id": "+33612345678"}], "name": "Alice Martin", "email": "alice.martin@example.com",
        "phone": "+33612345678"});
    let request = |intent: &str, entities: Value, action: Option<&str>| {
        let mut r = json!({"intent": intent, "entities": entities, "customer": customer.clone(),
            "conversation_id": "tp_0000000000000042", "lang": "en", "channel": "telegram"});
        if let Some(a) = action {
            r["action"] = json!(a);
            r["idempotency_key"] = json!("idem_5f2b9c0e41d7a3886b1e0f2a9c4d7e15");
        }
        r
    };
    let cases = [
        (
            "order_status",
            json!({"order_id": "4567"}),
            None,
            json!({"values": {"order.status": "shipped", "order.eta": "2026-12-04", "order.carrier": "Colissimo",
             "order.tracking_url": "https://tracking.example.com/4567"}}),
        ),
        (
            "cancel_order (read, before the confirmation)",
            json!({"order_id": "5521"}),
            None,
            json!({"values": {"order.status": "processing", "order.eta": "2026-12-08"}}),
        ),
        (
            "cancel_order",
            json!({"order_id": "5521"}),
            Some("cancel_order"),
            json!({"done": true, "values": {"order.status": "cancelled"}}),
        ),
        (
            "cancel_order (refused)",
            json!({"order_id": "4567"}),
            Some("cancel_order"),
            json!({"done": false, "say": {"en": "Order 4567 has already left our warehouse, so it can't be cancelled any more.",
             "fr": "La commande 4567 a déjà quitté notre entrepôt, elle ne peut plus être annulée."}}),
        ),
        (
            "change_delivery_address",
            json!({"order_id": "5521", "address": "14 avenue Foch"}),
            Some("change_delivery"),
            json!({"done": true}),
        ),
        (
            "reinstate_order",
            json!({"order_id": "5521"}),
            Some("reinstate_order"),
            json!({"done": true, "values": {"order.status": "processing"}}),
        ),
        (
            "return_item",
            json!({"order_id": "1234"}),
            None,
            json!({"values": {"order.status": "delivered"}}),
        ),
        (
            "refund_status",
            json!({"order_id": "1234"}),
            None,
            json!({"values": {"order.status": "returned"}, "say": {"en": "We received order 1234 on 2 December: €49.90 is on its way back to your card.",
             "fr": "Nous avons reçu la commande 1234 le 2 décembre : 49,90 € reviennent sur votre carte."}}),
        ),
        (
            "loyalty_points",
            json!({}),
            None,
            json!({"values": {"loyalty_points": 1250}}),
        ),
        (
            "delivery_problem",
            json!({"order_id": "4567"}),
            None,
            json!({"values": {"order.status": "shipped", "order.carrier": "Colissimo"}}),
        ),
        (
            "update_personal_info",
            json!({"new_email": "alice@new.example.com"}),
            Some("update_email"),
            json!({"done": true, "values": {"email": "alice@new.example.com"}}),
        ),
        (
            "an order the business does not know",
            json!({"order_id": "9999"}),
            None,
            json!({"values": {}}),
        ),
    ];
    let mut req_examples = serde_json::Map::new();
    let mut resp_examples = serde_json::Map::new();
    for (name, entities, action, answer) in cases {
        let intent = name.split(' ').next().unwrap_or(name);
        req_examples.insert(
            name.into(),
            json!({"value": request(intent, entities, action)}),
        );
        resp_examples.insert(name.into(), json!({"value": answer}));
    }
    let schemas = json!({
        "FulfillmentRequest": {"type": "object",
            "required": ["intent", "entities", "customer", "conversation_id", "lang", "channel"],
            "properties": {
                "intent": {"type": "string"},
                "entities": {"type": "object", "additionalProperties": {"type": "string"}},
                "customer": {"type": "object", "required": ["id", "identities"], "properties": {
                    "id": {"type": "string"},
                    "identities": {"type": "array", "items": {"type": "object", "required": ["channel", "id"],
                        "properties": {"channel": {"type": "string"}, "id": {"type": "string"}}}},
                    "name": {"type": "string"}, "email": {"type": "string"}, "phone": {"type": "string"}}},
                "conversation_id": {"type": "string"},
                "lang": {"enum": ["en", "fr"]},
                "channel": {"type": "string"},
                "action": {"enum": ["cancel_order", "change_delivery", "reinstate_order", "update_email"],
                    "description": "only for an action, once the customer confirmed"},
                "idempotency_key": {"type": "string",
                    "description": "only for an action: the same on every retry; do the action once per key and answer the same again"}}},
        "FulfillmentResponse": {"type": "object", "properties": {
            "values": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
                "description": "template placeholders: order.status (processing, shipped, out_for_delivery, delivered, cancelled, returned), order.eta (YYYY-MM-DD), order.carrier, order.tracking_url, order.address, loyalty_points, email, or any name the intent's templates use. For an intent about an order, no order.status means the order is not the customer's."},
            "say": {"type": "object", "properties": {"en": {"type": "string"}, "fr": {"type": "string"}},
                "description": "a ready sentence that replaces the template (for an action: said with its outcome)"},
            "done": {"type": "boolean", "description": "required for an action: whether it was done"}}}
    });
    let operation = json!({"post": {
        "summary": "Fulfillment: parcours asks the business's backend for live data, or to act",
        "description": "POSTed to fulfillment_url (parcours.toml), PARCOURS_FULFILLMENT_URL, or the intent's own `fulfillment` URL. Headers: X-Parcours-Timestamp (seconds since the epoch) and X-Parcours-Signature: sha256=<hex HMAC-SHA256 of timestamp + \".\" + body, keyed by PARCOURS_FULFILLMENT_SECRET>; refuse a bad signature or a timestamp more than 5 minutes away. Answer within the time-out (2 s by default). A time-out, a non-2xx or a body that is not this JSON is a failure: the customer hears that the system cannot be reached, and nothing is said done.",
        "parameters": [
            {"name": "X-Parcours-Timestamp", "in": "header", "required": true, "schema": {"type": "string"}},
            {"name": "X-Parcours-Signature", "in": "header", "required": true, "schema": {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"}}],
        "requestBody": {"required": true, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/FulfillmentRequest"}, "examples": req_examples}}},
        "responses": {"200": {"description": "the values, the sentence, and for an action whether it was done",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FulfillmentResponse"},
                "examples": resp_examples}}},
            "401": {"description": "bad signature: parcours says the system cannot be reached"}}}});
    if let Some(s) = doc["components"]["schemas"].as_object_mut() {
        if let Value::Object(more) = schemas {
            s.extend(more);
        }
    }
    doc["components"]["callbacks"] =
        json!({"Fulfillment": {"https://backend.example.com/fulfillment": operation.clone()}});
    doc["webhooks"] = json!({"fulfillment": operation});
    for route in [
        "/webhook/voice",
        "/webhook/twilio",
        "/webhook/alexa",
        "/webhook/telegram",
    ] {
        if let Some(post) = doc["paths"][route]["post"].as_object_mut() {
            post.insert(
                "callbacks".into(),
                json!({"fulfillment": {"$ref": "#/components/callbacks/Fulfillment"}}),
            );
        }
    }
}
