"""Demo data: a five-level organisation with officers, supervisees and course assignments."""
from __future__ import annotations

from sqlalchemy import select

from webapp.compliance import refresh_month
from webapp.core import db
from webapp.models import Assignment, Course, OrgUnit, Role, User
from webapp.core.security import hash_password
from webapp.study import current_month

DEMO_PASSWORD = "Demo-Pass-2026"

# (key, name, level, parent key)
UNITS = [
    ("moj", "司法部", 1, None),
    ("zj", "浙江省司法厅", 2, "moj"),
    ("hz", "杭州市司法局", 3, "zj"),
    ("xh", "西湖区司法局", 4, "hz"),
    ("bs", "北山街道司法所", 5, "xh"),
    ("ly", "灵隐街道司法所", 5, "xh"),
    ("js", "江苏省司法厅", 2, "moj"),
    ("nj", "南京市司法局", 3, "js"),
    ("xw", "玄武区司法局", 4, "nj"),
    ("my", "梅园新村街道司法所", 5, "xw"),
]

# (username, name, role, unit key, responsible officer username)
PEOPLE = [
    ("admin", "系统管理员", Role.ADMIN, "moj", None),
    ("officer_moj", "部级工作人员", Role.OFFICER, "moj", None),
    ("officer_zj", "省级工作人员", Role.OFFICER, "zj", None),
    ("officer_hz", "市级工作人员", Role.OFFICER, "hz", None),
    ("officer_xh", "区级工作人员", Role.OFFICER, "xh", None),
    ("officer_bs", "北山所 王警官", Role.OFFICER, "bs", None),
    ("officer_ly", "灵隐所 李警官", Role.OFFICER, "ly", None),
    ("officer_my", "梅园所 陈警官", Role.OFFICER, "my", None),
    ("zhangsan", "张三", Role.SUPERVISEE, "bs", "officer_bs"),
    ("lisi", "李四", Role.SUPERVISEE, "bs", "officer_bs"),
    ("wangwu", "王五", Role.SUPERVISEE, "ly", "officer_ly"),
    ("zhaoliu", "赵六", Role.SUPERVISEE, "my", "officer_my"),
]


def load_demo(password: str = DEMO_PASSWORD) -> list[str]:
    """Create what is missing; running it twice changes nothing. Returns lines to print."""
    session = db.session()
    units: dict[str, OrgUnit] = {}
    for key, name, level, parent_key in UNITS:
        parent = units.get(parent_key)
        unit = session.scalar(select(OrgUnit).where(OrgUnit.name == name, OrgUnit.level == level))
        if unit is None:
            unit = OrgUnit(name=name, level=level, parent_id=parent.id if parent else None, path="")
            session.add(unit)
            session.flush()
            unit.path = f"{parent.path if parent else '/'}{unit.id}/"
        units[key] = unit
    password_hash = hash_password(password)
    people: dict[str, User] = {}
    for username, name, role, unit_key, officer in PEOPLE:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            user = User(username=username, display_name=name, role=role, unit_id=units[unit_key].id,
                        password_hash=password_hash, failed_logins=0, active=True,
                        officer_id=people[officer].id if officer else None)
            session.add(user)
            session.flush()
        people[username] = user
    courses = session.scalars(select(Course)).all()
    for user in people.values():
        if user.role != Role.SUPERVISEE:
            continue
        for course in courses:
            if session.scalar(select(Assignment.id).where(Assignment.learner_id == user.id,
                                                          Assignment.course_id == course.id)) is None:
                session.add(Assignment(learner_id=user.id, course_id=course.id,
                                       assigned_by_id=user.officer_id))
    session.flush()
    refresh_month(session, current_month())       # the unit pages' rows of this month
    session.commit()
    lines = [f"demo password for every account: {password}"]
    for username, name, role, unit_key, _officer in PEOPLE:
        lines.append(f"  {role.value:<10} {username:<12} {name} — {units[unit_key].name}")
    lines.append(f"{len(courses)} course(s) assigned to every supervisee")
    return lines
