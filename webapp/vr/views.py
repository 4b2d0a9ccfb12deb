"""VR warning education, officer side: stations of the jurisdiction (register: the token is shown
once; revoke), scene assignments to supervisees (assign, cancel), an officer's on-site confirmation
that a supervisee is at a station (it verifies the sessions that follow, streaming.vr_credit), and
the sessions and check-ins on a supervisee's record. The stations' own API is webapp/vr/api.py."""
from __future__ import annotations

import hashlib
import json
import secrets
import time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length

from streaming import vr_attitude, vr_credit

from webapp.core import db, jurisdiction
from webapp.core.access import STAFF, allow, can_see_unit, requested_unit, user_or_404
from webapp.core.audit import audit
from webapp.models import (OrgUnit, Role, User, VrAssignment, VrAssignmentStatus, VrCheckIn, VrSession, VrStation,
                           utcnow)

bp = Blueprint("vr", __name__, url_prefix="/officer/vr", template_folder="templates")

# The scenes of vr_scenes/ (webapp does not import vr_scenes: the station talks to us over HTTP).
# stages: the keys every complete session reaches; max_s: the sum of the stages' durations, the
# longest a session can run (credit is capped at max_s + 60 s). tests/unit/test_vr_catalogue.py
# checks this against vr_scenes.registry.
SCENES = {
    "prison": {"title": _l("Prison warning"), "max_s": 470.0,
               "stages": ("arrival", "cell", "regime", "visiting", "door")},
    "drunk": {"title": _l("Drunk-driving warning"), "max_s": 550.0,
              "stages": ("briefing", "sober_lap", "drinking", "drunk_lap", "crash", "police", "hospital", "court",
                         "family")},
    "rehab": {"title": _l("Drug-rehab warning"), "max_s": 435.0,
              "stages": ("withdrawal", "intake", "routine", "temptation", "relapse", "recovery", "family")},
}


def scene_spec(key: str) -> vr_credit.SceneSpec:
    return vr_credit.SceneSpec(stages=frozenset(SCENES[key]["stages"]), max_s=SCENES[key]["max_s"])

STATUS_LABELS = {
    VrAssignmentStatus.PENDING: _l("Pending"),
    VrAssignmentStatus.DONE: _l("Done"),
    VrAssignmentStatus.CANCELLED: _l("Cancelled"),
}
CREDIT_LABELS = {
    "credited": _l("Credited"),
    "stopped": _l("Not credited: ended by the operator's emergency stop"),
    "unverified": _l("Not credited: no verified check-in (face with liveness, or an officer's on-site "
                     "confirmation) at this station"),
    "incomplete": _l("Not credited: not every stage reached or quiz not answered"),
    "overlap": _l("Not credited: overlaps another credited VR session"),
    "daily_cap": _l("Credited up to the daily VR limit only"),
}


OUTCOME_LABELS = {
    vr_credit.COMPLETED: _l("Completed"),
    vr_credit.STOPPED: _l("Emergency stop"),
    vr_credit.UNFINISHED: _l("Unfinished"),
}


def scene_title(key: str) -> str:
    scene = SCENES.get(key)
    return str(scene["title"]) if scene else key


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return "vrs_" + secrets.token_urlsafe(32)




class StationForm(FlaskForm):
    name = StringField(validators=[DataRequired(), Length(max=100)])
    unit_id = SelectField(coerce=int, validators=[DataRequired()])


class SceneForm(FlaskForm):
    scene = SelectField(validators=[DataRequired()])


class PlainForm(FlaskForm):
    """CSRF only (revoke, cancel)."""


class ConfirmForm(FlaskForm):
    """An officer confirms that the supervisee is at this station now."""
    station_id = SelectField(coerce=int, validators=[DataRequired()])


def _subtree_units(unit: OrgUnit) -> list[OrgUnit]:
    return db.session().scalars(select(OrgUnit).where(jurisdiction.unit_within(unit)).order_by(OrgUnit.path)).all()


def _station_or_404(station_id: int) -> VrStation:
    station = db.session().get(VrStation, station_id)
    if station is None or not can_see_unit(current_user, station.unit):
        abort(404)
    return station


def _assignment_or_404(assignment_id: int) -> VrAssignment:
    assignment = db.session().get(VrAssignment, assignment_id)
    if assignment is None:
        abort(404)
    user_or_404(assignment.learner_id, Role.SUPERVISEE)
    return assignment


def local_time(value: datetime | float | None) -> str:
    if value is None:
        return "—"
    tz = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    if isinstance(value, datetime):
        moment = value.replace(tzinfo=timezone.utc)
    else:
        moment = datetime.fromtimestamp(value, timezone.utc)
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _render_stations(form: StationForm, token: str | None = None, token_station: VrStation | None = None,
                     status: int = 200):
    units = _subtree_units(current_user.unit)
    effect_unit = requested_unit()
    stations = db.session().scalars(
        select(VrStation).join(OrgUnit, OrgUnit.id == VrStation.unit_id)
        .where(jurisdiction.unit_within(current_user.unit)).order_by(VrStation.revoked_at.is_not(None), OrgUnit.path,
                                                       VrStation.name)).all()
    return render_template("vr/stations.html", stations=stations, form=form, units=units,
                           plain=PlainForm(), token=token, token_station=token_station,
                           local_time=local_time, effect_unit=effect_unit, effects=unit_effects(effect_unit),
                           scene_title=scene_title), status


def _station_form() -> StationForm:
    form = StationForm()
    form.unit_id.choices = [(u.id, u.name) for u in _subtree_units(current_user.unit)]
    return form


@bp.route("/stations")
@allow(*STAFF)
def stations():
    form = _station_form()
    form.unit_id.data = current_user.unit_id
    return _render_stations(form)


@bp.route("/stations", methods=["POST"])
@allow(*STAFF)
def register_station():
    form = _station_form()
    if not form.validate_on_submit():
        flash(_("Give the station a name (at most 100 characters) and choose its unit."), "error")
        return _render_stations(form, status=400)
    session = db.session()
    token = new_token()
    station = VrStation(name=form.name.data.strip(), unit_id=form.unit_id.data, token_hash=hash_token(token),
                        created_by_id=current_user.id)
    session.add(station)
    session.flush()
    audit("vr_station_registered", target=f"vr_station:{station.id}", detail=f"unit:{station.unit_id}")
    fresh = _station_form()
    fresh.unit_id.data = current_user.unit_id
    # The token is in this response only: the database keeps its hash.
    response = _render_stations(fresh, token=token, token_station=station, status=201)
    return response[0], 201, {"Cache-Control": "no-store"}


@bp.route("/stations/<int:station_id>/revoke", methods=["POST"])
@allow(*STAFF)
def revoke_station(station_id: int):
    station = _station_or_404(station_id)
    if not PlainForm().validate_on_submit():
        abort(400)
    if station.revoked_at is None:
        station.revoked_at = utcnow()
        station.revoked_by_id = current_user.id
        audit("vr_station_revoked", target=f"vr_station:{station.id}")
        flash(_("The station's token is revoked."), "success")
    return redirect(url_for("vr.stations")), 303


@bp.route("/supervisee/<int:user_id>/assign", methods=["POST"])
@allow(*STAFF)
def assign(user_id: int):
    learner = user_or_404(user_id, Role.SUPERVISEE)
    form = SceneForm()
    form.scene.choices = [(k, scene_title(k)) for k in SCENES]
    if not form.validate_on_submit():
        flash(_("Choose a VR scene to assign."), "error")
        return redirect(url_for("officer.supervisee", user_id=learner.id)), 303
    session = db.session()
    if session.scalar(select(VrAssignment.id).where(VrAssignment.learner_id == learner.id,
                                                    VrAssignment.scene == form.scene.data,
                                                    VrAssignment.status == VrAssignmentStatus.PENDING)):
        flash(_("This scene is already assigned and pending."), "error")
        return redirect(url_for("officer.supervisee", user_id=learner.id)), 303
    assignment = VrAssignment(learner_id=learner.id, scene=form.scene.data, assigned_by_id=current_user.id)
    session.add(assignment)
    session.flush()
    audit("vr_assigned", target=f"user:{learner.id}", detail=f"vr_assignment:{assignment.id} scene:{assignment.scene}")
    flash(_("VR scene assigned: the supervisee can start it at a VR station of the unit."), "success")
    return redirect(url_for("officer.supervisee", user_id=learner.id)), 303


@bp.route("/assignments/<int:vr_assignment_id>/cancel", methods=["POST"])
@allow(*STAFF)
def cancel_assignment(vr_assignment_id: int):
    assignment = _assignment_or_404(vr_assignment_id)
    if not PlainForm().validate_on_submit():
        abort(400)
    if assignment.status == VrAssignmentStatus.PENDING:
        assignment.status = VrAssignmentStatus.CANCELLED
        assignment.cancelled_at = utcnow()
        assignment.cancelled_by_id = current_user.id
        audit("vr_assignment_cancelled", target=f"user:{assignment.learner_id}",
              detail=f"vr_assignment:{assignment.id}")
        flash(_("VR assignment cancelled."), "success")
    else:
        flash(_("Only a pending VR assignment can be cancelled."), "error")
    return redirect(url_for("officer.supervisee", user_id=assignment.learner_id)), 303


def stations_for(learner: User) -> list[VrStation]:
    """The active stations the signed-in officer may confirm the learner at: stations of the
    officer's subtree whose own unit's subtree holds the learner (the station serves him)."""
    rows = db.session().scalars(
        select(VrStation).join(OrgUnit, OrgUnit.id == VrStation.unit_id)
        .where(jurisdiction.unit_within(current_user.unit), VrStation.revoked_at.is_(None))
        .order_by(OrgUnit.path, VrStation.name)).all()
    return [s for s in rows if jurisdiction.contains(s.unit, learner.unit)]


def _confirm_form(learner: User) -> ConfirmForm:
    form = ConfirmForm()
    form.station_id.choices = [(s.id, f"{s.name} ({s.unit.name})") for s in stations_for(learner)]
    return form


@bp.route("/supervisee/<int:user_id>/confirm", methods=["POST"])
@allow(*STAFF)
def confirm_present(user_id: int):
    """The officer at the station confirms the supervisee is there: a vr_checkin row (method
    "officer", the officer's id) that verifies the learner's sessions at that station starting
    within VR_CHECKIN_WINDOW_S. Only stations of the officer's subtree that serve the learner."""
    learner = user_or_404(user_id, Role.SUPERVISEE)
    back = redirect(url_for("officer.supervisee", user_id=learner.id, _anchor="vr")), 303
    form = _confirm_form(learner)
    if not form.validate_on_submit():
        flash(_("Choose an active VR station of your jurisdiction that serves this supervisee."), "error")
        return back
    if not learner.active:
        flash(_("This supervisee's account is deactivated."), "error")
        return back
    station = _station_or_404(form.station_id.data)
    if station.revoked_at is not None or not jurisdiction.contains(station.unit, learner.unit):
        abort(404)        # not reachable through the choices; checked again all the same
    row = VrCheckIn(station_id=station.id, learner_id=learner.id, method=vr_credit.OFFICER,
                    officer_id=current_user.id, at=time.time())
    session = db.session()
    session.add(row)
    session.flush()
    audit("vr_checkin_officer", target=f"user:{learner.id}", detail=f"station:{station.id} vr_checkin:{row.id}")
    minutes = current_app.config["VR_CHECKIN_WINDOW_S"] / 60
    flash(_("Confirmed: %(name)s is at %(station)s. VR sessions there starting within %(minutes)s minutes are "
            "verified.", name=learner.display_name, station=station.name, minutes=f"{minutes:g}"), "success")
    return back


# --- the attitude questionnaire's effect (streaming.vr_attitude) ----------------------------------

def unit_effects(unit: OrgUnit) -> list[vr_attitude.Effect]:
    """Per scene, over the sessions with both questionnaire halves of the supervisees now in `unit`'s
    subtree: n, mean before, mean after (sums grouped in SQL, the means by the pure rule)."""
    rows = db.session().execute(
        select(VrSession.scene, func.count(VrSession.id), func.sum(VrSession.attitude_before),
               func.sum(VrSession.attitude_after))
        .join(User, User.id == VrSession.learner_id).join(OrgUnit, OrgUnit.id == User.unit_id)
        .where(jurisdiction.unit_within(unit), VrSession.attitude_before.is_not(None),
               VrSession.attitude_after.is_not(None))
        .group_by(VrSession.scene)).all()
    return vr_attitude.effects_from_sums((scene, int(n), float(b), float(a)) for scene, n, b, a in rows)


def _signed(value: float | None) -> str:
    return "—" if value is None else f"{value:+.2f}"


# --- the supervisee's record (officer.supervisee renders it) ---------------------------------

def _mean(values) -> float | None:
    values = [v for v in values if isinstance(v, (int, float))]
    return sum(values) / len(values) if values else None


def checkin_label(row: VrCheckIn | None) -> str:
    """How a check-in (or the one that verified a session) reads on the record."""
    if row is None:
        return str(_("Not verified"))
    when = local_time(row.at)
    if row.method == vr_credit.OFFICER:
        officer = row.officer.display_name if row.officer else "—"
        return str(_("Officer %(officer)s confirmed on site, %(at)s", officer=officer, at=when))
    if row.method == vr_credit.FACE:
        if row.liveness:
            return str(_("Face with liveness, %(at)s", at=when))
        return str(_("Face matched, liveness failed, %(at)s", at=when))
    return str(_("Named by an officer's assignment (verifies nothing), %(at)s", at=when))


def session_view(row: VrSession) -> dict:
    stages = json.loads(row.stages_json or "[]")
    reactions = json.loads(row.reactions_json or "{}")
    return {
        "row": row,
        "verified_by": checkin_label(row.verified_by) if row.checkin_verified else str(_("Not verified")),
        "scene": scene_title(row.scene),
        "station": row.station.name if row.station else "—",
        "started": local_time(row.started_at),
        "minutes": max(0.0, row.ended_at - row.started_at) / 60,
        "credited_min": row.credited_s / 60,
        "credit_label": str(CREDIT_LABELS.get(row.credit_reason, row.credit_reason)),
        "stages": [{"title": s.get("title") or s.get("id"), "seconds": max(0.0, s["ended_at"] - s["started_at"]),
                    "completed": s.get("completed")} for s in stages],
        "attention": sorted(json.loads(row.attention_json or "{}").items()),
        "sober": _mean(reactions.get("sober", [])),
        "drunk": _mean(reactions.get("drunk", [])),
        "choices": sorted(json.loads(row.choices_json or "{}").items()),
        "quiz": f"{row.quiz_correct}/{row.quiz_questions}" if row.quiz_questions else "—",
        "outcome": str(OUTCOME_LABELS.get(row.outcome, row.outcome)) if row.outcome else "",
        "stopped": row.outcome == vr_credit.STOPPED,
        "progress": None if row.progress is None else round(100 * row.progress),
        "attitude_before": row.attitude_before, "attitude_after": row.attitude_after,
        "attitude_change": None if row.attitude_before is None or row.attitude_after is None
        else _signed(row.attitude_after - row.attitude_before),
    }


def record_context(learner: User) -> dict:
    session = db.session()
    sessions = session.scalars(select(VrSession).where(VrSession.learner_id == learner.id)
                               .order_by(VrSession.started_at.desc()).limit(100)).all()
    assignments = session.scalars(select(VrAssignment).where(VrAssignment.learner_id == learner.id)
                                  .order_by(VrAssignment.assigned_at.desc()).limit(50)).all()
    checkins = session.scalars(select(VrCheckIn).where(VrCheckIn.learner_id == learner.id)
                               .order_by(VrCheckIn.at.desc()).limit(20)).all()
    form = SceneForm()
    form.scene.choices = [(k, scene_title(k)) for k in SCENES]
    effects = vr_attitude.effects((s.scene, s.attitude_before, s.attitude_after) for s in session.execute(
        select(VrSession.scene, VrSession.attitude_before, VrSession.attitude_after)
        .where(VrSession.learner_id == learner.id)))
    return {"vr_sessions": [session_view(s) for s in sessions], "vr_assignments": assignments,
            "vr_effects": effects, "vr_signed": _signed,
            "vr_form": form, "vr_plain": PlainForm(), "vr_status_labels": STATUS_LABELS,
            "vr_scene_title": scene_title, "vr_local_time": local_time,
            "vr_checkins": [{"station": c.station.name if c.station else "—", "label": checkin_label(c),
                             "verifies": (c.method == vr_credit.FACE and bool(c.liveness))
                             or c.method == vr_credit.OFFICER} for c in checkins],
            "vr_confirm_form": _confirm_form(learner),
            "vr_window_min": current_app.config["VR_CHECKIN_WINDOW_S"] / 60}
