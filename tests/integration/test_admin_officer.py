"""Admins manage the tree and accounts of their subtree; officers assign courses; uploads are checked."""
from __future__ import annotations

import io

from sqlalchemy import select

from tests.conftest import make_course, user
from webapp.models import Assignment, AuditLog, OrgUnit, Role, User


def unit(db, name):
    return db.scalar(select(OrgUnit).where(OrgUnit.name == name))


def test_admin_adds_a_unit_one_level_down_with_its_path(client_for, db):
    admin = client_for("admin")
    xh = unit(db, "西湖区司法局")
    response = admin.c.post(f"/admin/units/{xh.id}/children", data={"csrf_token": admin.token, "name": "新司法所"})
    assert response.status_code == 303
    created = unit(db, "新司法所")
    assert created.level == 5 and created.parent_id == xh.id and created.path == f"{xh.path}{created.id}/"


def test_no_unit_below_a_township(client_for, db):
    admin = client_for("admin")
    bs = unit(db, "北山街道司法所")
    admin.c.post(f"/admin/units/{bs.id}/children", data={"csrf_token": admin.token, "name": "太深了"})
    assert unit(db, "太深了") is None


def test_unit_with_people_cannot_be_deleted(client_for, db):
    admin = client_for("admin")
    bs = unit(db, "北山街道司法所")
    admin.c.post(f"/admin/units/{bs.id}/delete", data={"csrf_token": admin.token})
    assert unit(db, "北山街道司法所") is not None


def test_required_hours_are_inherited_down_the_tree(client_for, db, app):
    admin = client_for("admin")
    zj = unit(db, "浙江省司法厅")
    admin.c.post(f"/admin/units/{zj.id}/edit", data={"csrf_token": admin.token, "name": zj.name,
                                                     "monthly_required_hours": "10"})
    page = client_for("zhangsan").c.get("/learn/").get_data(as_text=True)
    assert "应学 10.0 小时" in page
    other = client_for("zhaoliu").c.get("/learn/").get_data(as_text=True)
    assert "应学 8.0 小时" in other


def new_user_form(client, **over):
    data = {"csrf_token": client.token, "username": "newbie", "display_name": "新人", "role": "supervisee",
            "unit_id": "", "officer_id": "0", "password": "Strong-Pass-123", "active": "y"}
    data.update({k: str(v) for k, v in over.items()})
    return client.c.post("/admin/users/new", data=data)


def test_supervisee_needs_a_township_and_a_covering_officer(client_for, db):
    admin = client_for("admin")
    bs, xh = unit(db, "北山街道司法所"), unit(db, "西湖区司法局")
    assert new_user_form(admin, unit_id=xh.id, officer_id=user(db, "officer_xh").id).status_code == 400
    assert new_user_form(admin, unit_id=bs.id, officer_id=user(db, "officer_my").id).status_code == 400
    assert new_user_form(admin, unit_id=bs.id, officer_id=user(db, "officer_bs").id,
                         password="weak").status_code == 400
    ok = new_user_form(admin, unit_id=bs.id, officer_id=user(db, "officer_bs").id)
    assert ok.status_code == 303
    created = user(db, "newbie")
    assert created.role == Role.SUPERVISEE and created.password_hash.startswith("$argon2id$")
    assert db.scalar(select(AuditLog).where(AuditLog.action == "user_created")) is not None


def test_province_admin_cannot_place_accounts_outside_the_province(client_for, db):
    from webapp.core.security import hash_password
    zj = unit(db, "浙江省司法厅")
    db.add(User(username="admin_zj", display_name="浙江管理员", role=Role.ADMIN, unit_id=zj.id,
                password_hash=hash_password("Demo-Pass-2026"), failed_logins=0, active=True))
    db.commit()
    admin = client_for("admin_zj")
    my = unit(db, "梅园新村街道司法所")
    response = new_user_form(admin, unit_id=my.id, officer_id=user(db, "officer_my").id, role="officer")
    assert response.status_code in (400, 404)
    assert user(db, "newbie") is None


def test_officer_assigns_courses_only_inside_the_jurisdiction(app, db, client_for):
    course = make_course(app, db, slug="assignable", assign_to=())
    officer = client_for("officer_bs")
    inside = officer.c.post(f"/officer/supervisee/{user(db, 'lisi').id}/assign",
                            data={"csrf_token": officer.token, "course_id": course.id})
    outside = officer.c.post(f"/officer/supervisee/{user(db, 'wangwu').id}/assign",
                             data={"csrf_token": officer.token, "course_id": course.id})
    assert inside.status_code == 303 and outside.status_code == 404
    assigned = set(db.scalars(select(Assignment.learner_id).where(Assignment.course_id == course.id)))
    assert assigned == {user(db, "lisi").id}


def test_officer_dashboard_shows_monthly_hours_against_requirement(client_for):
    html = client_for("officer_bs").c.get("/officer/").get_data(as_text=True)
    assert "张三" in html and "李四" in html and "未完成" in html


def upload(client, manifest: bytes, media: bytes, media_name="v.mp4"):
    return client.c.post("/admin/courses/upload", data={
        "csrf_token": client.token,
        "manifest": (io.BytesIO(manifest), "m.json"),
        "media": (io.BytesIO(media), media_name)}, content_type="multipart/form-data")


def test_upload_of_a_non_video_is_refused_and_leaves_nothing(app, client_for, db):
    admin = client_for("admin")
    response = upload(admin, b'{"slug": "x-course"}', b"MZ\x90\x00 this is not a video at all")
    assert response.status_code == 400
    assert "MP4" in response.get_data(as_text=True)
    import os
    assert not os.path.exists(app.config["MEDIA_ROOT"]) or os.listdir(app.config["MEDIA_ROOT"]) == []
    leftovers = [p for p in os.listdir(app.config["INSTANCE_DIR"]) if p.startswith("upload-")]
    assert leftovers == []


def test_oversized_upload_gets_413(app, client_for):
    app.config["MAX_CONTENT_LENGTH"] = 10_000
    admin = client_for("admin")
    response = upload(admin, b"{}", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 20_000)
    assert response.status_code == 413
    assert "过大" in response.get_data(as_text=True)


def test_upload_by_officer_is_forbidden(client_for):
    officer = client_for("officer_zj")
    assert upload(officer, b"{}", b"x").status_code == 403
