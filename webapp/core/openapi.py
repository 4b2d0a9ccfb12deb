"""The OpenAPI 3.1 description of the portal's JSON APIs, served at `GET /api/openapi.json`.

A hand-written dict, not generated from the views: it is the contract that tests/fuzz checks the
views against (schemathesis against a live server: no 5xx, every answer as described here). It
covers the study API the player calls, the proctoring JSON routes (a supervisee's review request,
an officer's camera enrolment), and the VR station API (docs/vr_station_api.md). Public: it
describes shapes, never data.

Auth, as described under `components.securitySchemes`:

* portal APIs: the login's session cookie (`session`, set by the login form) and, on every POST,
  the CSRF token in the `X-CSRFToken` header (the page's `<meta name="csrf-token">`). A missing
  login answers 401 `unauthenticated`, another role 403, a bad or missing token 400 `csrf`. The
  session is bound to the browser's User-Agent (Flask-Login's "strong" protection): a request
  with another one is signed out. Clients send `Accept: application/json`.
* VR station API: `Authorization: Bearer <station token>`, no cookie and no CSRF; 401
  `unauthorized` without a valid, unrevoked token.

Every error is JSON `{"error": code, "message": text in the user's language, ...details}`.
The Socket.IO events (the player's heartbeats, the study camera's signalling, the conference
room) are described in the README; tests/fuzz/strategies.py has a payload strategy for each.
"""
from __future__ import annotations

import copy

from flask import Blueprint, jsonify

from webapp.core.access import public
from webapp.core.inputs import MAX_ID

bp = Blueprint("openapi", __name__)

# --- building blocks ---------------------------------------------------------------------------

ERROR = {
    "type": "object",
    "description": "Every error answer: a machine-readable code, a message for people, and details "
                   "(e.g. `field`: the field that was not valid).",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "minLength": 1},
        "message": {"type": "string"},
        "field": {"type": "string"},
    },
}

PROGRESS_PROPERTIES = {
    "position": {"type": "number", "description": "where the player resumes (s)"},
    "frontier": {"type": "number", "description": "furthest verified point (s)"},
    "covered_s": {"type": "number", "description": "unique seconds watched"},
    "credited_s": {"type": "number", "description": "seconds credited (verified)"},
    "coverage_share": {"type": "number", "minimum": 0},
    "complete": {"type": "boolean"},
}
PROGRESS = {"type": "object", "required": list(PROGRESS_PROPERTIES), "properties": PROGRESS_PROPERTIES}

PROMPT = {
    "description": "The open confirmation or surprise question (never its answer), or null.",
    "oneOf": [
        {"type": "null"},
        {"type": "object", "required": ["id", "left_s"],
         "properties": {"id": {"type": "string"}, "left_s": {"type": "number", "minimum": 0},
                        "question": {"type": "object", "required": ["prompt", "choices"],
                                     "properties": {"prompt": {"type": "string"},
                                                    "choices": {"type": "array", "items": {"type": "string"}}}}}},
    ],
}

HEARTBEAT_ANSWER = {
    "type": "object",
    "required": ["accepted", "reason", "prompt", "prompt_expired", *PROGRESS_PROPERTIES],
    "properties": {
        "accepted": {"type": "boolean"},
        "reason": {"type": ["string", "null"],
                   "description": "why a beat was refused: duplicate, replayed, invalid, rate_too_high, seek_ahead"},
        "prompt": PROMPT,
        "prompt_expired": {"type": "boolean"},
        "snap_to": {"type": "number", "description": "where the player must go back to (a seek past the frontier)"},
        **PROGRESS_PROPERTIES,
    },
}

# Why each status comes back (the texts of the error answers); an operation lists the ones it can give.
ERRORS = {
    "400": "Not valid: `bad_json` (the body is not a JSON object), `bad_field` (with `field`), `csrf` "
           "(missing or wrong X-CSRFToken), `too_deep` (JSON nested deeper than JSON_MAX_DEPTH), "
           "`out_of_range`, and the route's own codes.",
    "401": "Not signed in (`unauthenticated`); on the VR API: no valid station token (`unauthorized`).",
    "403": "Signed in with another role (`forbidden`).",
    "404": "No such object, or outside the caller's jurisdiction (`not_found`): the two are not told apart.",
    "409": "The object's state does not allow it (the route's codes).",
    "413": "The body is over the route's limit (`request_entity_too_large`).",
    "422": "Understood but refused (the route's codes).",
    "429": "Rate-limited (`rate_limited` or `too_many_requests`); `Retry-After` says when to try again.",
    "503": "Production (MEDIA_MODE=remote): the media process is restarting (`media_unavailable`, "
           "`Retry-After`); nothing was lost, try again.",
}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _responses(ok: dict | None, *errors: str, ok_status: str = "200", ok_description: str = "Done.",
               overrides: dict | None = None) -> dict:
    out: dict = {}
    if ok is not None:
        out[ok_status] = {"description": ok_description, "content": _json(ok)}
    for status in errors:
        out[status] = {"description": ERRORS[status], "content": _json({"$ref": "#/components/schemas/Error"})}
    for status, response in (overrides or {}).items():
        out[status] = response
    return out


def _body(schema: dict, required: bool = True, description: str = "") -> dict:
    body = {"required": required, "content": _json(schema)}
    if description:
        body["description"] = description
    return body


def _obj(properties: dict, required: tuple[str, ...] = (), **extra) -> dict:
    schema = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = list(required)
    return schema


SESSION_ID = {"name": "session_id", "in": "path", "required": True,
              "description": "The sitting's id (`session_id` from POST /api/study/start, 32 hex digits).",
              "schema": {"type": "string", "minLength": 1, "maxLength": 64}}
ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}

PORTAL_POST = [{"session": [], "csrf": []}]
PORTAL_GET = [{"session": []}]
STATION = [{"station": []}]
PORTAL_ERRORS = ("400", "401", "403")

# --- operations --------------------------------------------------------------------------------

PATHS: dict = {
    "/api/openapi.json": {"get": {
        "operationId": "openapi", "tags": ["meta"], "security": [],
        "summary": "This description (public).",
        "responses": {"200": {"description": "The OpenAPI document.",
                              "content": _json({"type": "object", "required": ["openapi", "paths"]})}},
    }},

    # --- study (supervisee) ---
    "/api/study/start": {"post": {
        "operationId": "study_start", "tags": ["study"], "security": PORTAL_POST, "x-roles": ["supervisee"],
        "summary": "Open a sitting of an assigned course (any other open sitting of the learner ends).",
        "description": "With camera proctoring required (PROCTORING_REQUIRED, the default) the learner must "
                       "consent (`camera_consent: true`, else 400 `consent_required`) and be enrolled (else 409 "
                       "`not_enrolled`).",
        "requestBody": _body(_obj({"course_id": ID, "camera_consent": {"type": "boolean"}}, ("course_id",))),
        "responses": _responses(
            _obj({"session_id": {"type": "string"}, "duration": {"type": "number"},
                  "proctored": {"type": "boolean"}, "heartbeat_interval": {"type": "number"},
                  "max_rate": {"type": "number"}, **PROGRESS_PROPERTIES},
                 ("session_id", "duration", "proctored", "heartbeat_interval", "max_rate", *PROGRESS_PROPERTIES)),
            *PORTAL_ERRORS, "404", "409"),
    }},
    "/api/study/{session_id}/heartbeat": {"post": {
        "operationId": "study_heartbeat", "tags": ["study"], "security": PORTAL_POST, "x-roles": ["supervisee"],
        "summary": "The player's heartbeat (the HTTP fallback of the Socket.IO `heartbeat` event).",
        "description": "A beat the ledger refuses answers 422 with the same body (`accepted: false`, `reason`, "
                       "maybe `snap_to`). At most HEARTBEAT_MAX_PER_10S beats per learner per 10 s (429).",
        "parameters": [SESSION_ID],
        "requestBody": _body(_obj({
            "seq": {"type": "integer", "minimum": 0, "maximum": MAX_ID, "description": "increasing per sitting"},
            "position": {"type": "number", "description": "the player's position (s)"},
            "playing": {"type": "boolean"},
            "rate": {"type": "number", "description": "playback rate"},
        }, ("seq", "position", "playing", "rate"))),
        "responses": _responses(HEARTBEAT_ANSWER, *PORTAL_ERRORS, "404", "409", "429", overrides={
            "422": {"description": "The ledger refused the beat (`accepted: false`).",
                    "content": _json(HEARTBEAT_ANSWER)}}),
    }},
    "/api/study/{session_id}/confirm": {"post": {
        "operationId": "study_confirm", "tags": ["study"], "security": PORTAL_POST, "x-roles": ["supervisee"],
        "summary": "Answer the open confirmation or surprise question.",
        "description": "409: `session_closed`, `prompt_expired` (too late), `no_prompt` (no such open prompt).",
        "parameters": [SESSION_ID],
        "requestBody": _body(_obj({"prompt_id": {"type": "string", "maxLength": 64},
                                   "choice": {"type": "integer", "minimum": 0,
                                              "description": "the chosen answer of a surprise question"}},
                                  ("prompt_id",))),
        "responses": _responses(_obj({"ok": {"const": True}, "passed": {"type": "boolean"}, **PROGRESS_PROPERTIES},
                                     ("ok", "passed", *PROGRESS_PROPERTIES)),
                                *PORTAL_ERRORS, "404", "409", "503"),
    }},
    "/api/study/{session_id}/resume": {"post": {
        "operationId": "study_resume", "tags": ["study"], "security": PORTAL_POST, "x-roles": ["supervisee"],
        "summary": "Come back after a failed check: under the camera a fresh identity check decides "
                   "(`rechecking: true`), without it a new verified run starts now.",
        "description": "409: `session_closed`, `prompt_open`, `not_needed`, `no_camera`. The body is not read.",
        "parameters": [SESSION_ID],
        "responses": _responses({"oneOf": [
            _obj({"ok": {"const": True}, "rechecking": {"const": True}}, ("ok", "rechecking")),
            _obj({"ok": {"const": True}, **PROGRESS_PROPERTIES}, ("ok", *PROGRESS_PROPERTIES)),
        ]}, *PORTAL_ERRORS, "404", "409", "503"),
    }},
    "/api/study/{session_id}/finish": {"post": {
        "operationId": "study_finish", "tags": ["study"], "security": PORTAL_POST, "x-roles": ["supervisee"],
        "summary": "End the sitting: `confirmed: true` from the learner's click, false from a closed page "
                   "(navigator.sendBeacon; the body is read whatever its content type).",
        "parameters": [SESSION_ID],
        "requestBody": _body(_obj({"confirmed": {"type": "boolean"}}), required=False),
        "responses": _responses(_obj({"ok": {"const": True}, "verifying": {"type": "boolean"},
                                      **PROGRESS_PROPERTIES}, ("ok", "verifying", *PROGRESS_PROPERTIES)),
                                *PORTAL_ERRORS, "404", "503"),
    }},
    "/api/study/progress/{course_id}": {"get": {
        "operationId": "study_progress", "tags": ["study"], "security": PORTAL_GET, "x-roles": ["supervisee"],
        "summary": "The learner's progress in an assigned course.",
        "parameters": [{"name": "course_id", "in": "path", "required": True, "schema": ID}],
        "responses": _responses(PROGRESS, "401", "403", "404"),
    }},

    # --- proctoring ---
    "/api/proctor/review-request": {"post": {
        "operationId": "proctor_review_request", "tags": ["proctoring"], "security": PORTAL_POST,
        "x-roles": ["supervisee"],
        "summary": "A supervisee held by failed camera checks asks an officer to review the hold.",
        "description": "400: `bad_json`, `bad_field` (message not a string), `too_long` (over 500 characters). "
                       "409 `nothing_to_review`. Rate-limited per learner (PROCTOR_REVIEW_RATE_LIMIT).",
        "requestBody": _body(_obj({"message": {"type": ["string", "null"], "maxLength": 500}})),
        "responses": _responses(_obj({"ok": {"const": True}, "flag_id": {"type": "integer"},
                                      "joined": {"type": "boolean"}, "message": {"type": "string"}},
                                     ("ok", "flag_id", "joined", "message")),
                                *PORTAL_ERRORS, "409", "429"),
    }},
    "/officer/supervisees/{user_id}/face/capture": {"post": {
        "operationId": "proctor_enrol_capture", "tags": ["proctoring"], "security": PORTAL_POST,
        "x-roles": ["officer", "admin"],
        "summary": "An officer enrols a supervisee's face from the camera (one JPEG or PNG photo).",
        "description": "Only the encrypted embedding is kept. 400 `bad_image` (not a readable JPEG/PNG, over "
                       "5 MB, too many pixels), `bad_field`; 422 with the quality gate's reason (`no_face`, "
                       "`several_faces`, `too_small`, `blurry`, `not_frontal`); 409 `too_many` (10 active "
                       "references). `replace=1` deactivates the active references up to `replace_up_to`. "
                       "Send `Accept: application/json` (as enrol_capture.js does): this route is outside "
                       "/api/, and without it its errors (404, 400 `csrf`) are the HTML error page.",
        "parameters": [{"name": "user_id", "in": "path", "required": True, "schema": ID,
                        "description": "a supervisee of the officer's jurisdiction"}],
        "requestBody": {"required": True, "content": {"multipart/form-data": {
            "schema": _obj({"image": {"type": "string", "format": "binary"},
                            "replace": {"type": "string", "enum": ["0", "1"]},
                            "replace_up_to": {"type": "string", "pattern": "^[0-9]{1,19}$"}}, ("image",))}}},
        "responses": _responses(_obj({"ok": {"const": True}, "message": {"type": "string"},
                                      "active": {"type": "integer", "minimum": 0},
                                      "deactivated": {"type": "integer", "minimum": 0}},
                                     ("ok", "message", "active", "deactivated")),
                                *PORTAL_ERRORS, "404", "409", "413", "422", "503"),
    }},
}

# --- the VR station API (docs/vr_station_api.md) -------------------------------------------------

SCENE = {"type": "string", "enum": ["prison", "drunk", "rehab"]}
VR_ERRORS = ("400", "401")
PENDING = {"type": "array", "items": _obj({"id": {"type": "integer"}, "scene": {"type": "string"}}, ("id", "scene"))}
CHECKIN_ANSWER = _obj({
    "learner_id": {"type": "integer"}, "name": {"type": "string"},
    "distance": {"type": ["number", "null"]}, "verified": {"type": "boolean"},
    "checkin_id": {"type": "integer"},
    "liveness": _obj({"passed": {"type": "boolean"}, "steps": {"type": "array"}, "samples": {"type": "integer"}}),
    "assignments": PENDING}, ("learner_id", "name", "distance", "verified", "assignments"))
FRAME = _obj({"offset_s": {"type": "number", "minimum": 0},
              "image_jpeg_b64": {"type": "string", "minLength": 1, "description": "a base64 JPEG, at most 512 KB"}},
             ("offset_s", "image_jpeg_b64"))

PATHS.update({
    "/api/vr/v1/ping": {"get": {
        "operationId": "vr_ping", "tags": ["vr"], "security": STATION, "x-roles": ["station"],
        "summary": "The station itself, the scenes, the portal's clock.",
        "responses": _responses(_obj({
            "station": _obj({"id": {"type": "integer"}, "name": {"type": "string"}, "unit": {"type": "string"}},
                            ("id", "name", "unit")),
            "scenes": {"type": "array", "items": {"type": "string"}}, "server_time": {"type": "number"}},
            ("station", "scenes", "server_time")), "401"),
    }},
    "/api/vr/v1/assignments": {"get": {
        "operationId": "vr_assignments", "tags": ["vr"], "security": STATION, "x-roles": ["station"],
        "summary": "Pending VR assignments of the supervisees of the station's unit subtree.",
        "responses": _responses(_obj({"assignments": {"type": "array", "items": _obj({
            "id": {"type": "integer"}, "learner_id": {"type": "integer"}, "learner_name": {"type": "string"},
            "scene": {"type": "string"}, "assigned_at": {"type": "number"}},
            ("id", "learner_id", "learner_name", "scene", "assigned_at"))}}, ("assignments",)), "401"),
    }},
    "/api/vr/v1/checkin/challenge": {"post": {
        "operationId": "vr_checkin_challenge", "tags": ["vr"], "security": STATION, "x-roles": ["station"],
        "summary": "A liveness challenge for the next face check-in (the body is ignored).",
        "responses": _responses(_obj({
            "nonce": {"type": "string"}, "actions": {"type": "array", "items": {"type": "string"}},
            "steps": {"type": "array", "items": _obj({"action": {"type": "string"}, "prompt": {"type": "string"},
                                                      "at_s": {"type": "number"}}, ("action", "prompt", "at_s"))},
            "start_prompt": {"type": "string"}, "end_prompt": {"type": "string"}, "end_at_s": {"type": "number"},
            "window_s": {"type": "number"}, "duration_s": {"type": "number"}, "fps": {"type": "number"},
            "max_frames": {"type": "integer"}, "max_frame_bytes": {"type": "integer"},
            "max_total_bytes": {"type": "integer"}, "expires_at": {"type": "number"},
            "expires_in_s": {"type": "number"}},
            ("nonce", "actions", "steps", "start_prompt", "end_prompt", "end_at_s", "window_s", "duration_s", "fps",
             "max_frames", "max_frame_bytes", "max_total_bytes", "expires_at", "expires_in_s")), "401", "429"),
    }},
    "/api/vr/v1/checkin": {"post": {
        "operationId": "vr_checkin", "tags": ["vr"], "security": STATION, "x-roles": ["station"],
        "summary": "Check a learner in: a face burst answering a challenge, or an officer's assignment.",
        "description": "400 `bad_field` (with `field`; `frame` for a frame), `bad_image`; 404 `not_found`; "
                       "409 `challenge_invalid` (`reason`: unknown, used, expired) or `conflict`; 422 `no_match`, "
                       "`liveness_failed` (`reason`, `steps`, `samples`); 413 over 9 MB; 429.",
        "requestBody": _body({"oneOf": [
            _obj({"method": {"const": "face"}, "nonce": {"type": "string", "pattern": "^[A-Za-z0-9_-]{16,64}$"},
                  "frames": {"type": "array", "minItems": 1, "maxItems": 64, "items": FRAME}},
                 ("method", "nonce", "frames")),
            _obj({"method": {"const": "assignment"},
                  "assignment_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID}},
                 ("method", "assignment_id")),
        ]}),
        "responses": _responses(CHECKIN_ANSWER, *VR_ERRORS, "404", "409", "413", "422", "429"),
    }},
    "/api/vr/v1/sessions": {"post": {
        "operationId": "vr_post_session", "tags": ["vr"], "security": STATION, "x-roles": ["station"],
        "summary": "Post a finished VR session (idempotent by client_session_id: a repeat answers 200).",
        "description": "201 stored (credited or not: `credited_s` may be 0); 200 a repeat of the same "
                       "client_session_id; 400 `bad_field` (with `field`); 404 `not_found` (learner or assignment "
                       "outside the station's unit); 409 `conflict` (the id was posted by another station); "
                       "422 `too_old` (`max_age_s`).",
        "requestBody": _body(_obj({
            "client_session_id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
            "learner_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
            "assignment_id": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_ID},
            "scene": SCENE,
            "checkin": {"type": "string", "enum": ["face", "assignment"]},
            "started_at": {"type": "number", "description": "epoch s"},
            "ended_at": {"type": "number", "description": "epoch s"},
            "stages": {"type": "array", "minItems": 1, "maxItems": 30, "items": _obj({
                "id": {"type": "string"}, "title": {"type": "string", "maxLength": 100},
                "started_at": {"type": "number", "minimum": 0}, "ended_at": {"type": "number", "minimum": 0},
                "completed": {"type": "boolean"}}, ("id", "started_at", "ended_at", "completed"))},
            "attention": {"type": "object", "maxProperties": 50,
                          "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1}},
            "reaction_times": {"type": "object", "properties": {
                "sober": {"type": "array", "maxItems": 50, "items": {"type": "number", "minimum": 0, "maximum": 60}},
                "drunk": {"type": "array", "maxItems": 50, "items": {"type": "number", "minimum": 0, "maximum": 60}}},
                "additionalProperties": False},
            "choices": {"type": "object", "maxProperties": 20, "additionalProperties": {"type": "string",
                                                                                     "maxLength": 200}},
            "quiz": _obj({"questions": {"type": "integer", "minimum": 0, "maximum": 50},
                          "correct": {"type": "integer", "minimum": 0, "maximum": 50},
                          "answers": {"type": "array", "maxItems": 50, "items": _obj({
                              "id": {"type": "string"}, "answer": {"type": "string", "maxLength": 500},
                              "correct": {"type": "boolean"}}, ("id", "answer", "correct"))}},
                         ("questions", "correct")),
            "api_version": {"type": "integer", "enum": [1, 2], "default": 1,
                            "description": "session payload version; 2 adds outcome, progress and questionnaire "
                                           "(required then); a version-1 post is taken as before"},
            "outcome": {"type": "string", "enum": ["completed", "stopped", "unfinished"],
                        "description": "v2: stopped = the operator's emergency stop (never credited)"},
            "progress": {"type": "number", "minimum": 0, "maximum": 1, "description": "v2: share of the scene played"},
            "questionnaire": {"type": "object", "description": "v2: the attitude questionnaire's answers, 1..5 per "
                              "item of the scene (streaming/vr_attitude.py); after is required when completed",
                              "properties": {
                                  "before": {"type": "object", "additionalProperties": {"type": "integer",
                                                                                       "minimum": 1, "maximum": 5}},
                                  "after": {"type": ["object", "null"], "additionalProperties": {
                                      "type": "integer", "minimum": 1, "maximum": 5}}},
                              "required": ["before"]},
        }, ("client_session_id", "learner_id", "scene", "checkin", "started_at", "ended_at", "stages", "attention",
            "quiz"))),
        "responses": _responses(
            _obj({"session_id": {"type": "integer"}, "credited_s": {"type": "number", "minimum": 0},
                  "month": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"}}, ("session_id", "credited_s", "month")),
            *VR_ERRORS, "404", "409", "422", ok_status="201", ok_description="Stored.",
            overrides={"200": {"description": "A repeat of a session already stored: the same body.",
                               "content": _json({"$ref": "#/components/schemas/StoredSession"})}}),
    }},
})

SPEC: dict = {
    "openapi": "3.1.0",
    "info": {
        "title": "Community-corrections education portal: JSON APIs",
        "version": "1",
        "description": __doc__,
    },
    "servers": [{"url": "/"}],
    "tags": [{"name": "study", "description": "The supervisee's player (webapp/study/views.py)."},
             {"name": "proctoring", "description": "Camera proctoring (webapp/proctor/*views.py)."},
             {"name": "vr", "description": "VR stations (webapp/vr/api.py, docs/vr_station_api.md)."},
             {"name": "meta"}],
    "paths": PATHS,
    "components": {
        "schemas": {
            "Error": ERROR,
            "StoredSession": PATHS["/api/vr/v1/sessions"]["post"]["responses"]["201"]["content"][
                "application/json"]["schema"],
        },
        "securitySchemes": {
            "session": {"type": "apiKey", "in": "cookie", "name": "session",
                        "description": "The login's session cookie (POST /login, the form)."},
            "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRFToken",
                     "description": "The CSRF token of the login's session (the page's meta csrf-token), on "
                                    "every POST of the portal APIs."},
            "station": {"type": "http", "scheme": "bearer",
                        "description": "A VR station's token, shown once when an officer registered it."},
        },
    },
}


def spec() -> dict:
    """A copy of the description (callers may change theirs)."""
    return copy.deepcopy(SPEC)


@bp.route("/api/openapi.json")
@public
def openapi_json():
    return jsonify(SPEC)
