"""The prison scene's view (Panda3D): the intake hall, the cell with its corridor, clock and door,
the workshop and the visiting room; ``sync`` shows the set for the stage and moves the door, clock
hands, guard, finished items and the phone to the logic's state (``vr_scenes.scenes.prison``)."""
from __future__ import annotations

from .. import people
from .. import procgen as pg
from .. import props
from ..scenes.prison import BUNK, CELL_X, FOOTPRINTS, MACHINE, QUOTA, VISIT_X, WORK_X, WORKERS, PrisonScene
from ..world import World


def _sets_for(scene: PrisonScene) -> tuple[str, ...]:
    k = scene.stage.key
    if k == "arrival":
        return ("intake",)
    if k == "visiting":
        return ("visit",)
    if k == "regime" and scene.regime_phase()[1] in ("work", "study"):
        return ("workshop",)
    return ("cell",)


def build(scene: PrisonScene, world: World) -> None:
    root = world.root
    pg.lights(root, ambient=(0.42, 0.43, 0.45), sun=(0.7, 0.7, 0.68), sun_hpr=(20, -60, 0))
    concrete = world.texture("concrete-grey", lambda: pg.concrete(128, 21, base=(0.66, 0.67, 0.66)))
    floor_tex = world.texture("floor-tiles", lambda: pg.tiles(128, 22, a=(0.55, 0.56, 0.55), b=(0.5, 0.5, 0.5)))
    bricks = world.texture("bricks-grey", lambda: pg.bricks(128, 23, brick=(0.6, 0.6, 0.58), mortar=(0.7, 0.7, 0.7)))

    # intake hall ---------------------------------------------------------------------------------------
    intake = world.add_set("intake")
    st = intake.attach_new_node("static")
    walls, floor, furn, light = pg.Mesh("walls"), pg.Mesh("floor"), pg.Mesh("furn"), pg.Mesh("light")
    props.room(walls, floor, (0, 4.5, 0), 8, 10, 3.2, wall_color=(0.85, 0.86, 0.84), floor_color=(0.8, 0.8, 0.8))
    for sx in (-0.18, 0.18):                                 # the yellow footprints
        furn.box((FOOTPRINTS[0] + sx, FOOTPRINTS[1], 0.005), (0.16, 0.32, 0.01), (0.95, 0.8, 0.1), faces="t")
    furn.box((0, 4.5, 0.003), (1.2, 1.2, 0.005), (0.3, 0.3, 0.3), faces="t")
    props.table(furn, 2.5, 6.5, w=1.6, d=0.7, color=(0.5, 0.5, 0.52))
    for k in range(4):
        furn.box((2.0 + 0.3 * k, 6.5, 0.79), (0.22, 0.16, 0.06), (0.15 + 0.2 * k, 0.15, 0.1))   # belongings
    for k in range(6):                                       # the height chart on the wall
        furn.box((-3.0, 9.48, 1.0 + 0.2 * k), (1.2, 0.02, 0.015), (0.2, 0.2, 0.2))
    light.quad((-1, 2, 3.18), (1, 2, 3.18), (1, 7, 3.18), (-1, 7, 3.18), (1, 1, 0.95))
    light.quad((-1, 7, 3.17), (1, 7, 3.17), (1, 2, 3.17), (-1, 2, 3.17), (1, 1, 0.95))
    walls.attach(st, concrete)
    floor.attach(st, floor_tex)
    furn.attach(st)
    light.attach(st, lit=False, two_sided=True)
    world.text(intake, "入监登记处", (0, 9.45, 2.6), scale=0.35, color=(0.8, 0.1, 0.1, 1), heading=0)

    # the cell (with the corridor outside) ----------------------------------------------------------------
    cell = world.add_set("cell")
    st = cell.attach_new_node("static")
    walls, floor, furn, light = pg.Mesh("walls"), pg.Mesh("floor"), pg.Mesh("furn"), pg.Mesh("light")
    # the cell: back wall (y=4), side walls, ceiling; open at the bars (y=0)
    walls.box((CELL_X, 2.0, 1.4), (3.0, 4.0, 2.8), (0.78, 0.78, 0.74), uv_per_m=0.6, faces="newt", inside=True)
    # the corridor outside the bars: y from -3 to 0
    walls.box((CELL_X, -1.5, 1.5), (10.0, 3.0, 3.0), (0.7, 0.72, 0.7), uv_per_m=0.6, faces="sewt", inside=True)
    floor.box((CELL_X, 0.5, 0.0), (10.0, 7.0, 0.01), (0.75, 0.75, 0.75), uv_per_m=0.6, faces="t")
    props.bars(furn, CELL_X - 1.5, CELL_X + 1.5, 0.0, h=2.8, gap=(CELL_X - 1.45, CELL_X - 0.35))
    props.bed(furn, BUNK[0] + 0.1, BUNK[1], along_y=True, frame=(0.3, 0.32, 0.35), sheet=(0.55, 0.6, 0.55))
    furn.box((CELL_X - 1.2, 3.6, 0.22), (0.45, 0.5, 0.44), (0.85, 0.85, 0.85))        # toilet
    furn.box((CELL_X - 1.3, 2.5, 0.85), (0.3, 0.45, 0.15), (0.8, 0.8, 0.82))          # sink
    furn.box((CELL_X - 1.0, 1.5, 0.4), (0.4, 0.6, 0.05), (0.5, 0.4, 0.3))             # a narrow shelf-table
    props.window(furn, light, CELL_X, 3.98, 2.3, 0.6, 0.4, facing=-1, sky=(0.55, 0.7, 0.95), bars_n=3)
    props.clock_face(furn, CELL_X, -2.95, 2.4, facing=1)
    light.quad((CELL_X - 0.3, 1.8, 2.78), (CELL_X + 0.3, 1.8, 2.78), (CELL_X + 0.3, 2.2, 2.78), (CELL_X - 0.3, 2.2, 2.78),
               (1, 1, 0.9))
    light.quad((CELL_X - 0.3, 2.2, 2.77), (CELL_X + 0.3, 2.2, 2.77), (CELL_X + 0.3, 1.8, 2.77), (CELL_X - 0.3, 1.8, 2.77),
               (1, 1, 0.9))
    walls.attach(st, bricks)
    floor.attach(st, floor_tex)
    furn.attach(st)
    light.attach(st, lit=False, two_sided=True)
    world.text(cell, "0417", (CELL_X + 1.0, -0.05, 2.45), scale=0.18, color=(0.1, 0.1, 0.1, 1), heading=180,
               card=(0.95, 0.95, 0.9, 1))
    door = pg.Mesh("door")
    props.bars(door, -0.55, 0.55, 0.0, h=2.8)
    world.nodes["door"] = door.attach(cell)
    hands = pg.Mesh("hands")
    hands.box((0, 0, 0.08), (0.02, 0.01, 0.16), (0.05, 0.05, 0.05))
    hour = hands.attach(cell)
    hour.set_pos(CELL_X, -2.912, 2.4)
    minute_m = pg.Mesh("minute").box((0, 0, 0.1), (0.012, 0.01, 0.21), (0.05, 0.05, 0.05))
    minute = minute_m.attach(cell)
    minute.set_pos(CELL_X, -2.905, 2.4)
    world.nodes["hands"] = (hour, minute)

    # the workshop ----------------------------------------------------------------------------------------
    shop = world.add_set("workshop")
    st = shop.attach_new_node("static")
    walls, floor, furn, light = pg.Mesh("walls"), pg.Mesh("floor"), pg.Mesh("furn"), pg.Mesh("light")
    props.room(walls, floor, (WORK_X, 5, 0), 14, 14, 4.0, wall_color=(0.8, 0.82, 0.8), floor_color=(0.6, 0.62, 0.6))
    for row in range(4):
        for col in range(-2, 3):
            x, y = WORK_X + col * 2.2, 2.0 + row * 2.2
            props.table(furn, x, y + 0.6, w=1.2, d=0.6, color=(0.45, 0.5, 0.45))
            furn.box((x, y + 0.65, 0.85), (0.35, 0.2, 0.2), (0.2, 0.2, 0.22))
    for x, y in WORKERS:                                  # the stools (the inmates: vr_scenes.people)
        furn.box((x, y - 0.05, 0.22), (0.34, 0.3, 0.44), (0.3, 0.3, 0.32))
    for k in range(3):
        light.quad((WORK_X - 5, 1 + 4 * k, 3.98), (WORK_X + 5, 1 + 4 * k, 3.98), (WORK_X + 5, 1.5 + 4 * k, 3.98),
                   (WORK_X - 5, 1.5 + 4 * k, 3.98), (1, 1, 0.92))
        light.quad((WORK_X - 5, 1.5 + 4 * k, 3.97), (WORK_X + 5, 1.5 + 4 * k, 3.97), (WORK_X + 5, 1 + 4 * k, 3.97),
                   (WORK_X - 5, 1 + 4 * k, 3.97), (1, 1, 0.92))
    walls.attach(st, concrete)
    floor.attach(st, floor_tex)
    furn.attach(st)
    light.attach(st, lit=False, two_sided=True)
    world.text(shop, "劳动改造　重塑新生", (WORK_X, 11.9, 3.0), scale=0.45, color=(0.8, 0.1, 0.1, 1))
    world.nodes["cloth"] = []
    for k in range(QUOTA):
        n = pg.Mesh(f"item{k}").box((0, 0, 0), (0.3, 0.25, 0.01), (0.3, 0.35, 0.6)).attach(shop)
        n.set_pos(MACHINE[0] + 0.4, MACHINE[1] + 0.55, 0.77 + 0.012 * k)
        world.nodes["cloth"].append(n)

    # the visiting room ---------------------------------------------------------------------------------
    visit = world.add_set("visit")
    st = visit.attach_new_node("static")
    walls, floor, furn, glass = pg.Mesh("walls"), pg.Mesh("floor"), pg.Mesh("furn"), pg.Mesh("glass")
    props.room(walls, floor, (VISIT_X, 1.0, 0), 8, 5, 3.0, wall_color=(0.82, 0.84, 0.86), floor_color=(0.7, 0.7, 0.7))
    furn.box((VISIT_X, 0.9, 0.45), (8.0, 0.5, 0.9), (0.55, 0.55, 0.58))               # the counter
    for x in (-3.0, -1.5, 1.5, 3.0):
        furn.box((VISIT_X + x, 0.9, 1.9), (0.08, 0.5, 2.0), (0.4, 0.4, 0.42))         # booth dividers
    glass.quad((VISIT_X - 4, 0.9, 0.9), (VISIT_X + 4, 0.9, 0.9), (VISIT_X + 4, 0.9, 2.9), (VISIT_X - 4, 0.9, 2.9),
               (0.7, 0.82, 0.9, 0.35))
    for z in (0.92, 2.95):                                                             # the glass's frame
        furn.box((VISIT_X, 0.88, z), (8.0, 0.06, 0.05), (0.35, 0.35, 0.38))
    furn.box((VISIT_X - 0.4, 1.85, 0.2), (0.4, 0.36, 0.4), (0.35, 0.3, 0.28))        # the mother's stool
    furn.box((VISIT_X - 0.75, 1.2, 1.0), (0.08, 0.2, 0.06), (0.1, 0.1, 0.1))          # their phone
    props.chair(furn, VISIT_X, -0.1, facing_y=1)
    props.clock_face(furn, VISIT_X + 2.2, 3.45, 2.3, facing=-1)
    walls.attach(st, concrete)
    floor.attach(st, floor_tex)
    furn.attach(st)
    glass.attach(st, alpha=True, two_sided=True)
    world.text(visit, "会见室", (VISIT_X - 2.4, 3.45, 2.4), scale=0.3, color=(0.1, 0.1, 0.3, 1))
    handset = pg.Mesh("handset").box((0, 0, 0), (0.07, 0.22, 0.06), (0.1, 0.1, 0.1)).attach(visit)
    world.nodes["handset"] = handset
    people.build(scene, world)
    world.show(*_sets_for(scene))


def sync(scene: PrisonScene, world: World) -> None:
    world.show(*_sets_for(scene))
    k = scene.stage.key
    scene_root = world.root
    scene_root.set_color_scale((scene.lights, scene.lights, min(1.0, scene.lights * 1.6), 1))
    if "cell" in world.shown:
        closed = scene.door_closed if k == "door" else (1.0 if k == "regime" else 0.0)
        world.nodes["door"].set_pos(CELL_X - 1.45 + 0.55 + (1.0 - closed) * -1.1 + 0.0, 0.06, 0)
        minutes = scene.regime_phase()[0] if k == "regime" else 21 * 60
        hour, minute = world.nodes["hands"]
        hour.set_r((minutes / 60 % 12) * 30)
        minute.set_r((minutes % 60) * 6)
    if "workshop" in world.shown:
        for i, item in enumerate(world.nodes["cloth"]):
            item.show() if i < scene.items else item.hide()
    if k == "visiting":
        h = world.nodes["handset"]
        if scene.phone:
            h.set_pos(VISIT_X - 0.2, 0.3, 0.92)      # in the learner's hand, low in the view
            h.set_hpr(-20, 60, 0)
        else:
            h.set_pos(VISIT_X - 0.6, 0.75, 0.95)
            h.set_hpr(0, 0, 0)
    people.sync(scene, world)
