"""The drug-rehab scene's view (Panda3D): the room at night, the rehab centre, the yard, the street
corner at dusk and home; ``sync`` shows the set for the stage, tints it and moves the routine markers
and the packet to the logic's state (``vr_scenes.scenes.rehab``)."""
from __future__ import annotations

from .. import people
from .. import procgen as pg
from .. import props
from ..scenes.rehab import (
    CENTRE_X,
    DESK,
    HOME_X,
    PHONE,
    ROOM_X,
    STATION_NAMES,
    STATIONS,
    STREET_X,
    YARD_X,
    DrugRehabScene,
)
from ..scenes.rehab import FAMILY_SEATS
from ..world import World

SETS = {"withdrawal": "room", "intake": "centre", "routine": "yard", "temptation": "street", "relapse": "room",
        "recovery": "yard", "family": "home"}


def build(scene: DrugRehabScene, world: World) -> None:
    root = world.root
    pg.lights(root, ambient=(0.45, 0.45, 0.5), sun=(0.75, 0.72, 0.68), sun_hpr=(40, -50, 0))
    plaster = world.texture("plaster", lambda: pg.concrete(128, 31, base=(0.8, 0.78, 0.74), var=0.12))
    floor_tex = world.texture("floor-wood", lambda: pg.wood(128, 32, base=(0.5, 0.36, 0.24)))
    tiles = world.texture("tiles-green", lambda: pg.tiles(128, 33, a=(0.75, 0.8, 0.75), b=(0.65, 0.72, 0.68)))
    grass = world.texture("grass", lambda: pg.grass(128, 34))
    bricks = world.texture("bricks-street", lambda: pg.bricks(128, 35))

    # the room at night (withdrawal, relapse) --------------------------------------------------------------
    room = world.add_set("room")
    st = room.attach_new_node("static")
    walls, floor, furn, light = pg.Mesh("walls"), pg.Mesh("floor"), pg.Mesh("furn"), pg.Mesh("light")
    props.room(walls, floor, (ROOM_X, 2.0, 0), 4.0, 4.0, 2.6, wall_color=(0.75, 0.72, 0.66), floor_color=(0.6, 0.55, 0.5))
    props.bed(furn, ROOM_X - 1.2, 2.6, along_y=True, frame=(0.35, 0.3, 0.25), sheet=(0.6, 0.55, 0.5))
    furn.box((ROOM_X - 1.0, 2.3, 0.62), (0.6, 0.9, 0.12), (0.5, 0.48, 0.45))           # crumpled blanket
    props.table(furn, PHONE[0], PHONE[1] + 0.2, w=0.7, d=0.5, h=0.72, color=(0.4, 0.3, 0.2))
    furn.box((PHONE[0], PHONE[1] + 0.15, 0.78), (0.2, 0.14, 0.08), (0.8, 0.1, 0.1))    # the phone
    for k in range(5):                                                                   # litter on the floor
        furn.box((ROOM_X + 0.6 - 0.35 * k, 1.4 + 0.3 * (k % 2), 0.01), (0.12, 0.08, 0.02), (0.85, 0.85, 0.8))
    props.window(furn, light, ROOM_X + 0.6, 3.98, 1.6, 0.9, 0.8, facing=-1, sky=(0.05, 0.07, 0.2))
    props.clock_face(furn, ROOM_X - 1.0, 3.97, 2.0, r=0.2, facing=-1)
    light.quad((ROOM_X - 0.2, 1.8, 2.58), (ROOM_X + 0.2, 1.8, 2.58), (ROOM_X + 0.2, 2.2, 2.58), (ROOM_X - 0.2, 2.2, 2.58),
               (0.9, 0.85, 0.6))
    light.quad((ROOM_X - 0.2, 2.2, 2.57), (ROOM_X + 0.2, 2.2, 2.57), (ROOM_X + 0.2, 1.8, 2.57), (ROOM_X - 0.2, 1.8, 2.57),
               (0.9, 0.85, 0.6))
    walls.attach(st, plaster)
    floor.attach(st, floor_tex)
    furn.attach(st)
    light.attach(st, lit=False, two_sided=True)
    world.text(room, "求助电话", (PHONE[0], PHONE[1] + 0.45, 1.05), scale=0.09, color=(1, 0.9, 0.3, 1))
    hands = pg.Mesh("hands").box((0, 0, 0.06), (0.015, 0.01, 0.13), (0.05, 0.05, 0.05))
    hour = hands.attach(room)
    hour.set_pos(ROOM_X - 1.0, 3.94, 2.0)
    hour.set_r(90)       # three o'clock

    # the rehab centre (intake) ----------------------------------------------------------------------------
    centre = world.add_set("centre")
    st = centre.attach_new_node("static")
    walls, floor, furn, light = pg.Mesh("walls"), pg.Mesh("floor"), pg.Mesh("furn"), pg.Mesh("light")
    props.room(walls, floor, (CENTRE_X, 1.5, 0), 6.0, 7.0, 3.0, wall_color=(0.9, 0.92, 0.9), floor_color=(0.8, 0.82, 0.8))
    furn.box((CENTRE_X, DESK[1], 0.5), (2.4, 0.6, 1.0), (0.55, 0.6, 0.65))
    furn.box((CENTRE_X - 0.2, DESK[1] - 0.1, 1.01), (0.3, 0.22, 0.01), (0.98, 0.98, 0.98))     # the form
    furn.box((CENTRE_X - 2.97, 3.0, 1.8), (0.04, 1.8, 1.3), (0.95, 0.95, 0.9))                   # the rules board
    for k in range(2):
        props.chair(furn, CENTRE_X + 2.2, -0.5 + 0.6 * k, facing_y=1, color=(0.3, 0.4, 0.6))
    light.quad((CENTRE_X - 1, 0, 2.98), (CENTRE_X + 1, 0, 2.98), (CENTRE_X + 1, 3, 2.98), (CENTRE_X - 1, 3, 2.98), (1, 1, 1))
    light.quad((CENTRE_X - 1, 3, 2.97), (CENTRE_X + 1, 3, 2.97), (CENTRE_X + 1, 0, 2.97), (CENTRE_X - 1, 0, 2.97), (1, 1, 1))
    walls.attach(st, plaster)
    floor.attach(st, tiles)
    furn.attach(st)
    light.attach(st, lit=False, two_sided=True)
    world.text(centre, "强制隔离戒毒所", (CENTRE_X, 4.95, 2.45), scale=0.32, color=(0.1, 0.3, 0.6, 1))
    rules = world.text(centre, "所规\n一、遵守法律法规\n二、服从管理教育\n三、坚持康复训练\n四、拒绝一切毒品",
                       (CENTRE_X - 2.94, 3.0, 2.3), scale=0.13, color=(0.1, 0.1, 0.1, 1), heading=-90)
    rules.node().set_align(0)

    # the yard (routine, recovery) -------------------------------------------------------------------------
    yard = world.add_set("yard")
    st = yard.attach_new_node("static")
    ground, walls, furn = pg.Mesh("ground"), pg.Mesh("walls"), pg.Mesh("furn")
    ground.quad((YARD_X - 20, -10, 0), (YARD_X + 20, -10, 0), (YARD_X + 20, 20, 0), (YARD_X - 20, 20, 0), (1, 1, 1),
                uv=((0, 0), (8, 0), (8, 6), (0, 6)))
    walls.box((YARD_X, 8.5, 2.0), (20, 0.4, 4.0), (0.85, 0.85, 0.8), uv_per_m=0.5, faces="s")
    for sx in (-1, 1):
        walls.box((YARD_X + sx * 10, 0, 2.0), (0.4, 17, 4.0), (0.85, 0.85, 0.8), uv_per_m=0.5, faces="ew")
    ex = STATIONS["exercise"]
    furn.box((ex[0], ex[1], 0.01), (1.2, 2.0, 0.02), (0.2, 0.5, 0.8), faces="t")              # exercise mat
    furn.cylinder((ex[0] - 1.0, ex[1] + 1.2, 0), 0.05, 2.2, (0.6, 0.6, 0.62), segments=6)
    furn.cylinder((ex[0] + 1.0, ex[1] + 1.2, 0), 0.05, 2.2, (0.6, 0.6, 0.62), segments=6)
    furn.box((ex[0], ex[1] + 1.2, 2.2), (2.1, 0.06, 0.06), (0.6, 0.6, 0.62))                  # a bar
    cl = STATIONS["class"]
    for k in range(3):
        props.table(furn, cl[0] - 1.0 + k, cl[1] + 0.6, w=0.8, d=0.5, color=(0.6, 0.45, 0.3))
    furn.box((cl[0], cl[1] + 2.2, 1.5), (2.6, 0.08, 1.2), (0.1, 0.3, 0.2))                      # blackboard
    co = STATIONS["counselling"]
    props.chair(furn, co[0], co[1] + 0.9, facing_y=-1, color=(0.6, 0.35, 0.3))
    props.chair(furn, co[0] + 0.9, co[1] + 0.3, facing_y=-1, color=(0.6, 0.35, 0.3))
    furn.box((YARD_X, 8.25, 3.2), (1.6, 0.05, 1.0), (0.95, 0.85, 0.5))                        # certificate
    for x in (-7, -4, 4, 7):
        furn.cylinder((YARD_X + x, 7.0, 0), 0.15, 2.0, (0.4, 0.28, 0.18), segments=6, caps=False)
        furn.sphere((YARD_X + x, 7.0, 2.8), 1.1, (0.25, 0.5, 0.22), rings=4, segments=7)
    ground.attach(st, grass)
    walls.attach(st, bricks)
    furn.attach(st)
    for name, xy in STATIONS.items():
        world.text(yard, STATION_NAMES[name], (xy[0], xy[1] + 0.1, 2.3), scale=0.3, color=(1, 1, 1, 1),
                   card=(0.1, 0.3, 0.5, 0.85))
    world.text(yard, "结业证书", (YARD_X, 8.2, 3.3), scale=0.25, color=(0.6, 0.1, 0.1, 1))
    markers = {}
    for name, xy in STATIONS.items():
        m = pg.Mesh(f"marker-{name}").cylinder((0, 0, 0), 0.45, 0.02, (1.0, 0.8, 0.1), segments=14)
        n = m.attach(yard, lit=False)
        n.set_pos(xy[0], xy[1], 0.01)
        markers[name] = n
    world.nodes["markers"] = markers

    # the street corner at dusk ----------------------------------------------------------------------------
    street = world.add_set("street")
    st = street.attach_new_node("static")
    ground, walls, furn, light = pg.Mesh("ground"), pg.Mesh("walls"), pg.Mesh("furn"), pg.Mesh("light")
    ground.quad((STREET_X - 15, -10, 0), (STREET_X + 15, -10, 0), (STREET_X + 15, 20, 0), (STREET_X - 15, 20, 0),
                (0.5, 0.5, 0.55), uv=((0, 0), (6, 0), (6, 6), (0, 6)))
    walls.box((STREET_X - 4.0, 5, 4), (2, 20, 8), (0.7, 0.6, 0.55), uv_per_m=0.4, faces="e")
    walls.box((STREET_X + 4.0, 5, 4), (2, 20, 8), (0.6, 0.55, 0.55), uv_per_m=0.4, faces="w")
    walls.box((STREET_X, 8, 4), (10, 1, 8), (0.75, 0.68, 0.62), uv_per_m=0.4, faces="s")
    furn.cylinder((STREET_X + 2.5, 3.0, 0), 0.07, 4.0, (0.2, 0.2, 0.22), segments=6)
    light.sphere((STREET_X + 2.5, 3.0, 4.0), 0.2, (1.0, 0.85, 0.5), rings=4, segments=8)
    props.window(furn, light, STREET_X + 1.6, 7.49, 1.4, 2.0, 1.4, facing=-1, sky=(0.95, 0.75, 0.35))   # a shop
    props.window(furn, light, STREET_X - 1.8, 7.49, 3.5, 1.0, 0.8, facing=-1, sky=(0.9, 0.7, 0.3))
    ground.attach(st, world.texture("concrete-street", lambda: pg.concrete(128, 36)))
    walls.attach(st, bricks)
    furn.attach(st)
    light.attach(st, lit=False)
    packet = pg.Mesh("packet").box((0, 0, 0), (0.07, 0.05, 0.015), (0.97, 0.97, 0.97)).attach(street, lit=False)
    world.nodes["packet"] = packet

    # home --------------------------------------------------------------------------------------------------
    home = world.add_set("home")
    st = home.attach_new_node("static")
    walls, floor, furn, light = pg.Mesh("walls"), pg.Mesh("floor"), pg.Mesh("furn"), pg.Mesh("light")
    props.room(walls, floor, (HOME_X, 1.5, 0), 6.0, 6.0, 2.8, wall_color=(0.95, 0.9, 0.8), floor_color=(0.6, 0.45, 0.3))
    props.table(furn, HOME_X, 2.4, w=1.6, d=1.0, color=(0.6, 0.3, 0.15))
    for x, y in FAMILY_SEATS:                       # the parents' chairs (people: vr_scenes.people)
        props.chair(furn, x, y, facing_y=-1, color=(0.5, 0.25, 0.12))
    for k in range(5):
        furn.cylinder((HOME_X - 0.5 + 0.25 * k, 2.3 + 0.15 * (k % 2), 0.75), 0.09, 0.04,
                      ((0.9, 0.4, 0.2), (0.3, 0.7, 0.3), (0.95, 0.9, 0.8), (0.8, 0.2, 0.2), (0.9, 0.8, 0.3))[k],
                      segments=10)
    props.window(furn, light, HOME_X + 1.5, 4.48, 1.6, 1.2, 1.0, facing=-1, sky=(0.95, 0.8, 0.55))
    furn.box((HOME_X - 1.6, 4.45, 1.7), (0.9, 0.04, 0.6), (0.85, 0.15, 0.15))
    walls.attach(st, plaster)
    floor.attach(st, floor_tex)
    furn.attach(st)
    light.attach(st, lit=False)
    world.text(home, "家", (HOME_X - 1.6, 4.4, 1.58), scale=0.4, color=(1, 0.85, 0.2, 1))
    people.build(scene, world)
    world.show(SETS[scene.stage.key])


def sync(scene: DrugRehabScene, world: World) -> None:
    k = scene.stage.key
    world.show(SETS[k])
    tint = {"withdrawal": (0.8, 0.8, 0.95, 1), "relapse": (0.85, 0.7, 0.7, 1), "temptation": (1.0, 0.9, 0.8, 1)}
    world.root.set_color_scale(tint.get(k, (1, 1, 1, 1)))
    if k in ("routine", "recovery"):
        for name, marker in world.nodes["markers"].items():
            marker.show() if (k == "routine" and name not in scene.done) else marker.hide()
    if k == "temptation":
        packet = world.nodes["packet"]
        if scene.choice == "refuse":
            packet.hide()
        else:
            packet.show()
            packet.set_pos(STREET_X + 0.2, 1.55 if scene.choice is None else 0.45, 1.1)
    people.sync(scene, world)
