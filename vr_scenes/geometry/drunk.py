"""The drunk-driving scene's view (Panda3D): the road with its buildings, lamps, crosswalks, traffic
light and parked van, the learner's car from the driver's seat, the party, the hospital, the court and
home; ``sync`` moves the car, hazards, oncoming traffic and police to the logic's state
(``vr_scenes.scenes.drunk``)."""
from __future__ import annotations

import math
import random

from .. import people
from .. import procgen as pg
from .. import props
from ..scenes.drunk import EYE_OFFSET_X, HOME_SEATS, JUDGE_SEAT_Z, JUDGES, LANE_X, ROAD_HALF, DrunkDrivingScene
from ..world import World

SET_FOR_STAGE = {"briefing": ("road", "car"), "sober_lap": ("road", "car"), "drunk_lap": ("road", "car"),
                 "crash": ("road", "car"), "police": ("road", "car"), "drinking": ("bar",),
                 "hospital": ("hospital",), "court": ("court",), "family": ("home",)}


def build(scene: DrunkDrivingScene, world: World) -> None:
    rng = random.Random(5)
    root = world.root
    pg.lights(root, ambient=(0.5, 0.5, 0.55), sun=(0.8, 0.76, 0.68))
    concrete = world.texture("concrete", lambda: pg.concrete(128, 11))
    asphalt = world.texture("asphalt", lambda: pg.asphalt(256, 12))
    grass = world.texture("grass", lambda: pg.grass(128, 13))
    bricks = world.texture("bricks", lambda: pg.bricks(128, 14))
    wood = world.texture("wood", lambda: pg.wood(128, 15))
    tiles = world.texture("tiles", lambda: pg.tiles(128, 16))

    # the road -------------------------------------------------------------------------------------
    road = world.add_set("road")
    static = road.attach_new_node("static")
    y0, y1 = -80.0, 1400.0
    ground = pg.Mesh("ground")
    ground.quad((-80, y0, -0.02), (80, y0, -0.02), (80, y1, -0.02), (-80, y1, -0.02), (1, 1, 1),
                uv=((0, 0), (16, 0), (16, 150), (0, 150)))
    ground.attach(static, grass)
    tarmac = pg.Mesh("tarmac")
    tarmac.quad((-ROAD_HALF, y0, 0), (ROAD_HALF, y0, 0), (ROAD_HALF, y1, 0), (-ROAD_HALF, y1, 0), (1, 1, 1),
                uv=((0, 0), (1, 0), (1, (y1 - y0) / 14), (0, (y1 - y0) / 14)))
    tarmac.quad((-80, 693, 0.005), (80, 693, 0.005), (80, 707, 0.005), (-80, 707, 0.005), (0.9, 0.9, 0.9),
                uv=((0.3, 0), (0.3, 0), (0.3, 0.2), (0.3, 0.2)))
    tarmac.attach(static, asphalt)
    walls = pg.Mesh("buildings")
    for side in (-1, 1):
        walls.box((side * 5.0, (y0 + y1) / 2, 0.08), (3.0, y1 - y0, 0.16), (0.75, 0.75, 0.73), uv_per_m=0.5,
                  faces="t")
        y = y0
        while y < y1:
            length = rng.uniform(12, 28)
            if not (686 < y + length / 2 < 714 or 686 < y < 714):
                height = rng.uniform(6, 24)
                tint = rng.choice([(0.85, 0.8, 0.72), (0.7, 0.72, 0.78), (0.8, 0.7, 0.62), (0.9, 0.88, 0.85)])
                walls.box((side * rng.uniform(14, 18), y + length / 2, height / 2), (8, length - 2, height), tint,
                          uv_per_m=0.15, faces="nsewt")
            y += length + rng.uniform(2, 8)
    walls.attach(static, bricks)
    paint = pg.Mesh("paint")
    for cy in (320.0, 1100.0):
        for k in range(8):
            x = -ROAD_HALF + 0.45 + k * 0.9
            paint.box((x, cy, 0.01), (0.5, 3.0, 0.02), (0.95, 0.95, 0.95), faces="t")
    paint.box((LANE_X, 696.0, 0.01), (3.3, 0.4, 0.02), (0.95, 0.95, 0.95), faces="t")
    paint.box((0.0, 1248.0 + 4.0, 0.01), (7.0, 1.0, 0.02), (0.9, 0.2, 0.2), faces="t")
    for y in range(0, 1400, 40):                         # street lamps and trees
        for side in (-1, 1):
            paint.cylinder((side * 4.2, y, 0), 0.07, 6.0, (0.3, 0.3, 0.32), segments=6)
            paint.box((side * 3.6, y, 6.0), (1.3, 0.25, 0.12), (0.35, 0.35, 0.37))
            ty = y + 20
            paint.cylinder((side * 6.8, ty, 0), 0.15, 2.2, (0.4, 0.28, 0.18), segments=6, caps=False)
            paint.sphere((side * 6.8, ty, 3.2), 1.4, (0.22, 0.45, 0.2), rings=4, segments=7)
    # the traffic light's pole and the van the child runs out from behind
    paint.cylinder((4.5, 694.0, 0), 0.12, 4.2, (0.25, 0.25, 0.25), segments=6)
    paint.box((3.6, 694.0, 4.1), (2.0, 0.15, 0.15), (0.25, 0.25, 0.25))
    paint.box((2.7, 694.0, 3.6), (0.4, 0.3, 1.1), (0.12, 0.12, 0.12))
    props.car_body(paint, 4.9, 1093.0, (0.85, 0.85, 0.88), length=5.2, width=2.0)
    paint.box((4.9, 1093.0, 1.5), (2.0, 5.2, 1.6), (0.85, 0.85, 0.88))
    props.car_body(paint, 4.9, 300.0, (0.6, 0.1, 0.1))
    paint.attach(static, None)

    # traffic light lamps (dynamic colour), hazards, oncoming cars
    lamps = pg.Mesh("lamps")
    lamps_nodes = {}
    for i, name in enumerate(("red", "yellow", "green")):
        m = pg.Mesh(name).sphere((2.7, 693.82, 3.95 - i * 0.33), 0.12, (1, 1, 1), rings=4, segments=8)
        lamps_nodes[name] = m.attach(road, None, lit=False)
    del lamps
    world.nodes["lamps"] = lamps_nodes
    car = pg.Mesh("oncoming")
    props.car_body(car, 0, 0, (0.25, 0.35, 0.65))
    car_node = car.node()
    world.nodes["oncoming"] = []
    for _ in scene.oncoming:
        n = road.attach_new_node(car_node)
        n.set_h(180)
        world.nodes["oncoming"].append(n)
    police = pg.Mesh("police")
    props.car_body(police, 0, 0, (0.95, 0.95, 0.97))
    police.box((0, 0, 0.5), (1.82, 1.2, 0.25), (0.1, 0.2, 0.6))
    police.box((0, -0.3, 1.4), (1.0, 0.3, 0.12), (0.2, 0.2, 0.2))
    world.nodes["police"] = police.attach(road)
    world.nodes["police"].set_pos(-LANE_X, 1092.0, 0)
    beacon = pg.Mesh("beacon")
    beacon.box((-0.25, -0.3, 1.5), (0.45, 0.28, 0.12), (1, 0.1, 0.1))
    beacon.box((0.25, -0.3, 1.5), (0.45, 0.28, 0.12), (0.1, 0.2, 1))
    world.nodes["beacon"] = beacon.attach(world.nodes["police"], lit=False)
    world.nodes["police"].hide()

    # the car the learner drives: body, dashboard, wheel, pillars
    carset = world.add_set("car")
    cabin = pg.Mesh("cabin")
    cabin.box((0, 1.75, 0.6), (1.8, 1.2, 0.6), (0.55, 0.05, 0.05), faces="tnew")       # the hood ahead
    cabin.box((0, 0.2, 0.6), (1.8, 4.3, 0.6), (0.55, 0.05, 0.05), faces="sew")        # body sides (outside)
    cabin.box((0, 0.95, 0.8), (1.7, 0.5, 0.2), (0.16, 0.16, 0.17))                    # dashboard
    cabin.box((0, -0.35, 1.5), (1.7, 2.2, 0.05), (0.5, 0.5, 0.52), faces="b")         # roof lining
    for sx in (-1, 1):
        cabin.box((sx * 0.8, 1.05, 1.2), (0.06, 0.06, 0.6), (0.2, 0.2, 0.22))        # A pillars
        cabin.box((sx * 0.88, -0.3, 0.85), (0.05, 2.0, 0.2), (0.3, 0.3, 0.32))       # door panels
    for k in range(12):                                                               # steering wheel rim
        a = 2 * math.pi * k / 12
        cabin.box((EYE_OFFSET_X + 0.17 * math.cos(a), 0.6, 0.86 + 0.17 * math.sin(a)), (0.045, 0.03, 0.045),
                  (0.08, 0.08, 0.08))
    cabin.cylinder((EYE_OFFSET_X, 0.6, 0.86), 0.035, 0.3, (0.1, 0.1, 0.1), segments=6, axis="y")
    node = cabin.attach(carset)
    world.nodes["car"] = node
    gauge = world.text(node, "0", (EYE_OFFSET_X, 0.69, 1.08), scale=0.045, color=(0.3, 1.0, 0.4, 1), heading=0)
    gauge.set_p(-20)
    world.nodes["gauge"] = gauge

    # the party -----------------------------------------------------------------------------------
    bar = world.add_set("bar")
    bs = bar.attach_new_node("static")
    walls_m, floor_m, furn = pg.Mesh("walls"), pg.Mesh("floor"), pg.Mesh("furniture")
    props.room(walls_m, floor_m, (200, 0, 0), 6, 6, 3.0, wall_color=(0.85, 0.7, 0.55), floor_color=(0.8, 0.7, 0.6))
    props.table(furn, 200, 0.9, w=1.8, d=1.2, color=(0.55, 0.2, 0.15))
    for x, y in ((199.1, 1.85), (201.35, 0.6)):             # the friends' stools (people: vr_scenes.people)
        furn.box((x, y, 0.225), (0.38, 0.38, 0.45), (0.3, 0.2, 0.15))
    for k in range(6):
        furn.cylinder((199.4 + 0.25 * k, 1.2, 0.75), 0.035, 0.3, (0.2, 0.55, 0.25), segments=6)
    furn.box((200, 2.95, 1.9), (2.0, 0.05, 0.5), (0.8, 0.1, 0.1))
    walls_m.attach(bs, wood)
    floor_m.attach(bs, tiles)
    furn.attach(bs)
    world.text(bar, "欢聚一堂", (200, 2.9, 1.85), scale=0.3, color=(1, 0.9, 0.3, 1))
    glasses = []
    for k in range(8):
        g = pg.Mesh("glass").cylinder((0, 0, 0), 0.03, 0.07, (0.9, 0.9, 0.95, 0.7), segments=8)
        n = g.attach(bar, alpha=True)
        n.set_pos(199.7 + 0.08 * (k % 4), 0.5 - 0.08 * (k // 4), 0.75)
        glasses.append(n)
    world.nodes["glasses"] = glasses

    # hospital, court, home -----------------------------------------------------------------------
    hosp = world.add_set("hospital")
    hs = hosp.attach_new_node("static")
    walls_m, floor_m, furn, light = pg.Mesh("walls"), pg.Mesh("floor"), pg.Mesh("furniture"), pg.Mesh("light")
    props.room(walls_m, floor_m, (300, 2, 0), 5, 6, 2.8, wall_color=(0.82, 0.9, 0.88), floor_color=(0.75, 0.8, 0.8))
    props.bed(furn, 300, 3.0, along_y=False, sheet=(0.7, 0.8, 0.95))
    furn.box((301.3, 3.6, 0.8), (0.1, 0.1, 1.6), (0.7, 0.7, 0.7))
    furn.box((301.3, 3.6, 1.5), (0.5, 0.3, 0.4), (0.2, 0.2, 0.22))
    light.quad((301.1, 3.44, 1.38), (301.5, 3.44, 1.38), (301.5, 3.44, 1.62), (301.1, 3.44, 1.62), (0.1, 0.5, 0.2))
    furn.cylinder((299.0, 3.9, 0), 0.02, 1.9, (0.8, 0.8, 0.8), segments=5)
    furn.box((299.0, 3.9, 1.8), (0.15, 0.05, 0.25), (0.85, 0.9, 1.0))
    props.window(furn, light, 300, 4.98, 1.6, 1.6, 1.0, facing=-1)
    walls_m.attach(hs, concrete)
    floor_m.attach(hs, tiles)
    furn.attach(hs)
    light.attach(hs, lit=False)
    furn.box((299.9, 3.0, 0.6), (1.0, 0.86, 0.04), (0.7, 0.8, 0.95))      # the blanket over the child's legs
    pulse = pg.Mesh("pulse").box((0, 0, 0), (0.04, 0.01, 0.05), (0.3, 1, 0.4))
    world.nodes["pulse"] = pulse.attach(hosp, lit=False)
    world.nodes["pulse"].set_pos(301.1, 3.43, 1.5)

    court = world.add_set("court")
    cs = court.attach_new_node("static")
    walls_m, floor_m, furn = pg.Mesh("walls"), pg.Mesh("floor"), pg.Mesh("furniture")
    props.room(walls_m, floor_m, (400, 3, 0), 12, 10, 5.0, wall_color=(0.95, 0.92, 0.85), floor_color=(0.5, 0.35, 0.25))
    furn.box((400, 7.2, 0.3), (7, 2.6, 0.6), (0.4, 0.25, 0.14))            # the raised floor of the bench
    furn.box((400, 6.3, 0.95), (6, 0.8, 0.7), (0.45, 0.28, 0.15))           # the bench
    furn.box((400, 7.9, 2.4), (6.5, 0.1, 2.6), (0.42, 0.26, 0.15))
    for x, y in JUDGES:                                                     # the judges' high-backed chairs
        furn.box((x, y, JUDGE_SEAT_Z - 0.225), (0.55, 0.5, 0.45 - 0.02), (0.3, 0.12, 0.08))
        furn.box((x, y + 0.3, JUDGE_SEAT_Z + 0.5), (0.6, 0.08, 1.1), (0.35, 0.14, 0.1))
    furn.box((400, 1.3, 0.45), (1.6, 0.08, 0.9), (0.5, 0.32, 0.18))         # the dock's rail
    for x in (397.0, 403.0):
        props.table(furn, x, 4.0, w=2.0, d=0.7, color=(0.45, 0.28, 0.15))
    walls_m.attach(cs, concrete)
    floor_m.attach(cs, wood)
    furn.attach(cs)
    world.text(court, "审判庭", (400, 7.82, 3.3), scale=0.5, color=(0.95, 0.8, 0.3, 1), heading=180)
    world.nodes["verdict"] = world.text(court, "判决书\n交通肇事罪", (400, 5.85, 1.45), scale=0.12,
                                        color=(0.1, 0.1, 0.1, 1), card=(0.95, 0.95, 0.9, 1), heading=180)

    home = world.add_set("home")
    ms = home.attach_new_node("static")
    walls_m, floor_m, furn, light = pg.Mesh("walls"), pg.Mesh("floor"), pg.Mesh("furniture"), pg.Mesh("light")
    props.room(walls_m, floor_m, (500, 1.5, 0), 6, 6, 2.8, wall_color=(0.92, 0.88, 0.78), floor_color=(0.6, 0.45, 0.3))
    props.table(furn, 500, 2.2, w=1.4, d=0.9)
    props.chair(furn, 500, 1.4, facing_y=-1)
    for x, y in HOME_SEATS:
        props.chair(furn, x, y, facing_y=-1)
    for x in (499.6, 500.0, 500.4):
        furn.cylinder((x, 2.0, 0.75), 0.1, 0.03, (0.95, 0.95, 0.95), segments=10)
    props.window(furn, light, 500, 4.48, 1.6, 1.4, 1.0, facing=-1, sky=(0.1, 0.12, 0.3))
    furn.box((501.8, 4.45, 1.7), (0.5, 0.04, 0.4), (0.5, 0.35, 0.2))
    walls_m.attach(ms, bricks)
    floor_m.attach(ms, wood)
    furn.attach(ms)
    light.attach(ms, lit=False)
    people.build(scene, world)
    world.show(*SET_FOR_STAGE[scene.stage.key])


def sync(scene: DrunkDrivingScene, world: World) -> None:
    key = scene.stage.key
    world.show(*SET_FOR_STAGE[key])
    if "road" in SET_FOR_STAGE[key]:
        car = world.nodes["car"]
        car.set_pos(scene.car_x, scene.car_y, 0)
        car.set_h(scene.car_h)
        world.nodes["gauge"].node().set_text(f"{scene.speed * 3.6:.0f}")
        state = scene.light_state()
        for name, node in world.nodes["lamps"].items():
            on = name == state
            colour = {"red": (1, 0.1, 0.1, 1), "yellow": (1, 0.8, 0.1, 1), "green": (0.1, 1, 0.3, 1)}[name]
            node.set_color_scale(colour if on else (0.15, 0.15, 0.15, 1))
        for node, y in zip(world.nodes["oncoming"], scene.oncoming, strict=True):
            node.set_pos(-LANE_X, y, 0)
        police = world.nodes["police"]
        if key == "police":
            police.show()
            blink = math.sin(scene.t_stage * 2 * math.pi * 0.8) > 0
            world.nodes["beacon"].set_color_scale((1, 1, 1, 1) if blink else (0.4, 0.4, 0.4, 1))
        else:
            police.hide()
    if key == "drinking":
        for i, glass in enumerate(world.nodes["glasses"]):
            glass.set_alpha_scale(0.25 if i < scene.drinks else 1.0)
    if key == "hospital":
        t = scene.clock.now()
        world.nodes["pulse"].set_x(301.12 + (t * 0.12) % 0.36)
        world.nodes["pulse"].set_z(1.5 + (0.06 if (t * 1.2) % 1.0 < 0.15 else 0.0))
    people.sync(scene, world)
