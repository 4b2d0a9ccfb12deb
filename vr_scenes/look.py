"""Light and material: physically based shading with shadows on GL pipelines, and per-stage moods.

Two looks, chosen per window from what its renderer can do (``choose_look``):

* ``pbr`` (``pandagl`` on a station's GPU, ``p3headlessgl`` with Mesa llvmpipe in tests and the
  bench): the scene root gets panda3d-simplepbr's shaders (its GGX/Smith BRDF, its shadow-map lookup,
  its BRDF lookup table), with one shadow-casting main light, a sky/ground ambient and, on the night
  road, the car's headlights; colours and lights follow the stage's mood (night, dusk, fluorescent,
  day, a warm home). Materials: the scenes are vertex-coloured (sRGB) meshes written for fixed-function
  lights, so every node gets a rough dielectric default (roughness 0.8, metallic 0) and the shader
  turns its sRGB colours linear before lighting and tone-maps (simplepbr's filmic curve) after it.
  Nodes a scene marks unlit (light panels, windows to the sky, signs) keep their flat colour.
  On a CPU rasterizer (Mesa's llvmpipe or softpipe: ``choose_tier`` reads the GL renderer string) the
  ``pbr-vertex`` tier evaluates the same BRDF and ambient per vertex and keeps per pixel only one
  shadow-map sample, the headlights (Lambert: their cones on a big road quad) and the tone map; its
  shadow pass is depth only and only the people nearest the learner cast shadows (the view also draws
  the vision effects' image at half size). ``VR_LOOK=pbr`` / ``VR_LOOK=pbr-vertex`` force a tier.
* ``software`` (p3tinydisplay: no shaders): the scene's own fixed-function lights, unchanged.

Why not ``simplepbr.init()``: its Pipeline routes *one* display region of *one* camera through a
FilterManager (a full-window HDR buffer and a tone-mapping quad) and updates the shader input
``camera_world_position`` from a ShowBase task. The Viewer draws through its own camera into one region
per eye (two in stereo) and, while a vision effect is on, into per-eye texture buffers, and renders with
``graphics_engine.render_frame()`` (no task step): the task never ran before the first frame, hence
"Shader input camera_world_position is not present". Here the same shaders are applied to the scene
root and their inputs set by the Viewer every frame; tone mapping happens in the fragment shader, so
every region and buffer (mono, stereo, effects) gets the same image without another pass.

The mood table and ``choose_look`` are pure (no Panda3D); ``PbrLook`` is the view side.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

SOFTWARE_REASON = "software renderer: no shaders, PBR off"


@dataclass(frozen=True)
class Mood:
    """Lighting of a stage, in linear units of "reflected fraction" (a white surface facing the light
    reflects ``main``; the view multiplies by pi for the BRDF). ``sky`` replaces the scene's clear colour
    (sRGB) where set."""
    name: str
    main: tuple[float, float, float]            # the shadow-casting light's colour and strength
    main_hpr: tuple[float, float, float]        # its direction (Panda3D HPR; pitch < 0 points down)
    ambient_up: tuple[float, float, float]      # sky fill: light arriving at an upward-facing surface
    ambient_down: tuple[float, float, float]    # ground bounce: at a downward-facing one
    exposure: float = 1.0
    sky: tuple[float, float, float, float] | None = None
    headlights: bool = False


MOODS: dict[str, Mood] = {
    # cold tubes overhead: flat, bright, hard small shadows straight down
    "fluorescent": Mood("fluorescent", (0.85, 0.95, 1.0), (20, -78, 0), (0.42, 0.45, 0.48), (0.14, 0.15, 0.16),
                        exposure=1.0),
    # moonlight through a window, blue and dim; the eye adapts a little
    "night": Mood("night", (0.16, 0.2, 0.34), (35, -50, 0), (0.07, 0.08, 0.14), (0.02, 0.02, 0.035),
                  exposure=1.9, sky=(0.02, 0.03, 0.07, 1)),
    # the road at night: moon, a faint sky, the car's own headlights
    "night_road": Mood("night_road", (0.14, 0.17, 0.3), (-40, -45, 0), (0.08, 0.09, 0.15), (0.03, 0.03, 0.04),
                       exposure=1.9, sky=(0.03, 0.04, 0.1, 1), headlights=True),
    # a low warm sun, long shadows, a pink-violet sky
    "dusk": Mood("dusk", (1.25, 0.68, 0.38), (-60, -17, 0), (0.3, 0.27, 0.36), (0.14, 0.09, 0.07),
                 exposure=1.1, sky=(0.78, 0.48, 0.36, 1)),
    # dusk at home: warm lamp light overhead, the evening sky in the windows
    "home_dusk": Mood("home_dusk", (1.0, 0.72, 0.45), (30, -62, 0), (0.36, 0.3, 0.26), (0.16, 0.12, 0.09),
                      exposure=1.1, sky=(0.72, 0.45, 0.38, 1)),
    # a party room at night: warm, a bit dim
    "warm": Mood("warm", (1.0, 0.7, 0.42), (10, -70, 0), (0.33, 0.26, 0.2), (0.12, 0.09, 0.07), exposure=1.25),
    # an open sky at midday
    "day": Mood("day", (1.35, 1.25, 1.1), (40, -52, 0), (0.45, 0.52, 0.65), (0.2, 0.19, 0.17), exposure=1.0),
}

# (scene, stage) -> (mood, indoor): indoors the main light sits under the ceiling (what is above it
# casts no shadow), outdoors far above the learner
STAGE_MOODS: dict[tuple[str, str], tuple[str, bool]] = {
    ("prison", "arrival"): ("fluorescent", True),
    ("prison", "cell"): ("fluorescent", True),
    ("prison", "regime"): ("fluorescent", True),      # lights out (21:00): night, see mood_name
    ("prison", "visiting"): ("fluorescent", True),
    ("prison", "door"): ("fluorescent", True),
    ("drunk", "briefing"): ("night_road", False),
    ("drunk", "sober_lap"): ("night_road", False),
    ("drunk", "drinking"): ("warm", True),
    ("drunk", "drunk_lap"): ("night_road", False),
    ("drunk", "crash"): ("night_road", False),
    ("drunk", "police"): ("night_road", False),
    ("drunk", "hospital"): ("fluorescent", True),
    ("drunk", "court"): ("fluorescent", True),
    ("drunk", "family"): ("home_dusk", True),
    ("rehab", "withdrawal"): ("night", True),           # three in the morning
    ("rehab", "intake"): ("fluorescent", True),
    ("rehab", "routine"): ("day", False),
    ("rehab", "temptation"): ("dusk", False),
    ("rehab", "relapse"): ("night", True),
    ("rehab", "recovery"): ("day", False),
    ("rehab", "family"): ("home_dusk", True),
}
DEFAULT_MOOD = ("fluorescent", True)


def mood_name(scene_key: str, stage_key: str, lights: float = 1.0) -> tuple[str, bool]:
    """(mood, indoor) of a stage; ``lights`` is the prison's room lighting (below 0.5: lights out)."""
    name, indoor = STAGE_MOODS.get((scene_key, stage_key), DEFAULT_MOOD)
    if name == "fluorescent" and lights < 0.5:
        name = "night"
    return name, indoor


def mood_of(scene) -> tuple[Mood, bool]:
    """The mood of a scene's current stage, from its key, stage key and (prison) ``lights``."""
    name, indoor = mood_name(scene.key, scene.stage.key, float(getattr(scene, "lights", 1.0)))
    return MOODS[name], indoor


def choose_look(supports_shaders: bool, backend: str) -> tuple[str, str]:
    """("pbr" | "software", one line saying why) for a window whose renderer does (not) run GLSL."""
    if not supports_shaders:
        if backend == "tiny":
            return "software", SOFTWARE_REASON
        return "software", f"{backend}: the renderer runs no GLSL shaders, PBR off"
    return "pbr", f"{backend}: GLSL shaders, PBR on (panda3d-simplepbr, shadows from the main light)"


SOFTWARE_RASTERIZERS = ("llvmpipe", "softpipe")     # Mesa's CPU rasterizers (the GSG's renderer string)


def choose_tier(renderer: str, force: str | None = None) -> tuple[str, str]:
    """The PBR tier for a GL renderer: ("pbr" | "pbr-vertex", why). ``pbr`` is simplepbr per pixel (a
    GPU); ``pbr-vertex`` evaluates the same BRDF per vertex and keeps only the shadow-map sample and the
    tone map per pixel, for a CPU rasterizer (Mesa's llvmpipe or softpipe), which pays for every
    instruction of a fragment shader. ``force`` (``VR_LOOK``) picks either."""
    if force in ("pbr", "pbr-vertex"):
        return force, f"{force} requested (VR_LOOK)"
    name = (renderer or "").lower()
    cpu = next((r for r in SOFTWARE_RASTERIZERS if r in name), None)
    if cpu:
        return "pbr-vertex", f"{cpu} rasterizes on the CPU: lighting per vertex, shadow and tone map per pixel"
    return "pbr", "lighting per pixel"


def ambient_sh(up: tuple[float, float, float], down: tuple[float, float, float]) -> list[tuple[float, float, float]]:
    """Nine SH coefficients (simplepbr's ``sh_coeffs``) of a sky/ground hemisphere light whose diffuse
    irradiance over pi is ``up`` at an upward normal and ``down`` at a downward one (Panda3D's z up is
    the shader's world z, coefficient 2)."""
    c0 = tuple((u + d) / 2 * math.pi / 0.282095 for u, d in zip(up, down, strict=True))
    c2 = tuple((u - d) / 2 * math.pi / 0.488603 for u, d in zip(up, down, strict=True))
    return [c0, (0.0, 0.0, 0.0), c2] + [(0.0, 0.0, 0.0)] * 6


# --- the view side (Panda3D) ---------------------------------------------------------------------------
SHADOW_MASK_BIT = 21      # camera mask bit of the shadow camera (things hidden from it cast no shadow)
SHADOW_SIZE = 1024
# pbr-vertex: only the people nearest the learner cast shadows (a character is ~3,000 animated
# triangles in ~8 Geoms, which a CPU rasterizer pays again in the shadow pass)
SHADOW_PEOPLE, SHADOW_PEOPLE_RADIUS = 3, 4.0
ROUGHNESS, METALLIC = 0.8, 0.0

_UNLIT_VERT = """#version 120
uniform mat4 p3d_ModelViewProjectionMatrix;
attribute vec4 p3d_Vertex;
attribute vec4 p3d_Color;
attribute vec2 p3d_MultiTexCoord0;
varying vec4 v_color;
varying vec2 v_texcoord;
void main() {
    v_color = p3d_Color;
    v_texcoord = p3d_MultiTexCoord0;
    gl_Position = p3d_ModelViewProjectionMatrix * p3d_Vertex;
}
"""
_UNLIT_FRAG = """#version 120
uniform sampler2D p3d_Texture0;
uniform vec4 p3d_ColorScale;
uniform vec4 p3d_TexAlphaOnly;
varying vec4 v_color;
varying vec2 v_texcoord;
void main() {
    gl_FragColor = v_color * p3d_ColorScale * (texture2D(p3d_Texture0, v_texcoord) + p3d_TexAlphaOnly);
}
"""
_TONEMAP = """
uniform float vr_exposure;
vec4 vr_tonemap(vec4 color) {
    // simplepbr's tonemap.frag (Hejl-Burgess-Dawson filmic, gamma included), in the lighting pass
    vec3 c = max(vec3(0.0), color.rgb * vr_exposure - vec3(0.004));
    c = (c * (vec3(6.2) * c + vec3(0.5))) / (c * (vec3(6.2) * c + vec3(1.7)) + vec3(0.06));
    return vec4(c, color.a);
}
void main() {"""


def _pbr_shader(max_lights: int):
    """simplepbr 0.13.1's PBR shader with a few edits: vertex colours and textures are sRGB (made
    linear), the output is tone-mapped, meshes without tangents (ours) get a harmless one; and what is
    constant for our content is not computed per pixel (llvmpipe shades on the CPU): no metal-roughness
    textures (the material's values), an empty environment map (no image-based specular), an ambient
    SH with only the constant and vertical terms (``ambient_sh``); pow() becomes products."""
    from panda3d.core import Shader
    from simplepbr import _shaderutils

    defines = {"MAX_LIGHTS": max_lights, "ENABLE_SHADOWS": True, "USE_EMISSION_MAP": False,
               "USE_NORMAL_MAP": False, "USE_OCCLUSION_MAP": False, "USE_330": False, "IS_WEBGL": False,
               "ENABLE_SKINNING": False, "CALC_NORMAL_Z": False, "ENABLE_FOG": False}
    vert = _shaderutils._load_shader_str("simplepbr.vert", dict(defines))
    frag = _shaderutils._load_shader_str("simplepbr.frag", dict(defines))

    def edit(src: str, old: str, new: str) -> str:
        if src.count(old) != 1:
            raise RuntimeError(f"simplepbr shader changed: {old!r} not found once")
        return src.replace(old, new)

    vert = edit(vert, "    vec4 view_position = p3d_ModelViewMatrix * model_position;",
                "    if (dot(model_tangent, model_tangent) < 1e-8) {\n"
                "        model_tangent = abs(model_normal.x) < 0.9 ? vec3(1.0, 0.0, 0.0) : vec3(0.0, 1.0, 0.0);\n"
                "    }\n"
                "    vec4 view_position = p3d_ModelViewMatrix * model_position;")
    marker = "(texture2D(p3d_TextureBaseColor, v_texcoord) + p3d_TexAlphaOnly);"
    # sRGB to linear: x^2.2 within 4 % by x^2 (0.7 + 0.3 x), three pow() less per pixel
    frag = edit(frag, marker, marker + "\n    base_color.rgb = base_color.rgb * base_color.rgb * "
                "(vec3(0.7) + 0.3 * base_color.rgb);")
    frag = edit(frag, "void main() {", _TONEMAP)
    frag = edit(frag, "    gl_FragColor = color;", "    gl_FragColor = vr_tonemap(color);")
    frag = edit(frag, "vec4 metal_rough = texture2D(p3d_TextureMetalRoughness, v_texcoord);",
                "vec4 metal_rough = vec4(1.0);")
    frag = edit(frag, "vec3 ibl_spec_color = textureCubeLod(filtered_env_map, ibl_r, perceptual_roughness * "
                "max_reflection_lod).rgb;", "vec3 ibl_spec_color = vec3(0.0);")
    frag = edit(frag, "vec2 env_brdf = texture2D(brdf_lut, vec2(n_dot_v, perceptual_roughness)).rg;",
                "vec2 env_brdf = vec2(0.0);")
    frag = edit(frag, "vec3 ibl_spec = ibl_spec_color * (ibl_f * env_brdf.x + env_brdf.y);", "vec3 ibl_spec = vec3(0.0);")
    frag = edit(frag, "pow(clamp(1.0 - u, 0.0, 1.0), 5.0)",
                "(clamp(1.0 - u, 0.0, 1.0) * clamp(1.0 - u, 0.0, 1.0) * clamp(1.0 - u, 0.0, 1.0) * "
                "clamp(1.0 - u, 0.0, 1.0) * clamp(1.0 - u, 0.0, 1.0))")
    frag = edit(frag, "        + sh_coeffs[1] * 0.488603 * normal.x\n", "")
    sh_tail = frag[frag.index("        + sh_coeffs[3]"): frag.index("}", frag.index("        + sh_coeffs[3]"))]
    frag = edit(frag, sh_tail, "        ;\n")
    # GLSL 1.20 forbids indexing sampler arrays with the loop counter, and Mesa crashes on it: only the
    # main light (index 0: the highest priority) casts shadows
    frag = edit(frag, "float shadow_caster = shadow_caster_contrib(p3d_LightSource[i].shadowMap, v_shadow_pos[i]);",
                "float shadow_caster = (i == 0) ? shadow_caster_contrib(p3d_LightSource[0].shadowMap, "
                "v_shadow_pos[0]) : 1.0;")
    shader = Shader.make(Shader.SL_GLSL, vert, frag)
    shader.set_filename(Shader.ST_none, "vr-pbr")
    return shader


# Panda3D's light inputs, declared alike in both stages of the pbr-vertex shader
_GLSL_LIGHTS = """#define MAX_LIGHTS %(max_lights)d
uniform struct p3d_LightSourceParameters {
    vec4 position;
    vec4 diffuse;
    vec4 specular;
    vec3 attenuation;
    vec3 spotDirection;
    float spotCosCutoff;
    sampler2DShadow shadowMap;
    mat4 shadowViewMatrix;
} p3d_LightSource[MAX_LIGHTS];
"""

_VERTEX_LIT_VERT = """#version 120
// the pbr-vertex tier (a CPU rasterizer: llvmpipe, softpipe): simplepbr's GGX/Smith BRDF and sky/ground
// ambient evaluated per vertex; the fragment shader only samples the main light's shadow map once,
// adds the headlights (Lambert, per pixel: a cone on a big road quad) and tone-maps
%(lights)suniform struct p3d_MaterialParameters {
    vec4 baseColor;
    vec4 emission;
    float roughness;
    float metallic;
} p3d_Material;
uniform struct p3d_LightModelParameters {
    vec4 ambient;
} p3d_LightModel;
uniform mat4 p3d_ProjectionMatrix;
uniform mat4 p3d_ModelViewMatrix;
uniform mat3 p3d_NormalMatrix;
uniform mat4 p3d_ModelMatrixInverseTranspose;
uniform mat4 p3d_TextureMatrix;
uniform vec4 p3d_ColorScale;
uniform vec3 sh_coeffs[9];
uniform float vr_exposure;
attribute vec4 p3d_Vertex;
attribute vec4 p3d_Color;
attribute vec3 p3d_Normal;
attribute vec2 p3d_MultiTexCoord0;
varying vec3 v_lit;        // unshadowed light on the base colour (ambient), exposure applied
varying vec3 v_sun;        // the main light's diffuse part, to be multiplied by its shadow
varying vec3 v_spec;       // the main light's specular part, ditto
varying float v_alpha;
varying vec2 v_texcoord;
varying vec4 v_shadow_pos;
#if MAX_LIGHTS > 1
varying vec3 v_view_position;
varying vec3 v_view_normal;
varying vec3 v_head_color;  // base colour times exposure / pi: the headlights' Lambert factor
#endif
const float PI = 3.141592653589793;
const vec3 F0 = vec3(0.04);

void main() {
    vec4 view_position = p3d_ModelViewMatrix * p3d_Vertex;
    gl_Position = p3d_ProjectionMatrix * view_position;
    v_texcoord = (p3d_TextureMatrix * vec4(p3d_MultiTexCoord0, 0, 1)).xy;
    v_shadow_pos = p3d_LightSource[0].shadowViewMatrix * view_position;

    vec4 base = p3d_Material.baseColor * p3d_Color * p3d_ColorScale;
    v_alpha = base.a;
    vec3 base_rgb = base.rgb * base.rgb * (vec3(0.7) + 0.3 * base.rgb);      // sRGB to linear
    float metallic = clamp(p3d_Material.metallic, 0.0, 1.0);
    float perceptual_roughness = clamp(p3d_Material.roughness, 0.0, 1.0);
    float r = perceptual_roughness * perceptual_roughness;
    vec3 diffuse_color = base_rgb * (vec3(1.0) - F0) * (1.0 - metallic);
    vec3 spec_color = mix(F0, base_rgb, metallic);

    vec3 n = normalize(p3d_NormalMatrix * p3d_Normal);
    vec3 v = normalize(-view_position.xyz);
    float n_dot_v = clamp(abs(dot(n, v)), 0.0, 1.0);

    // the main light (directional): GGX distribution, Smith visibility, Schlick Fresnel (simplepbr's)
    vec3 l = normalize(p3d_LightSource[0].position.xyz - view_position.xyz * p3d_LightSource[0].position.w);
    vec3 h = normalize(l + v);
    float n_dot_l = clamp(dot(n, l), 0.0, 1.0);
    float n_dot_h = clamp(dot(n, h), 0.0, 1.0);
    float v_dot_h = clamp(dot(v, h), 0.0, 1.0);
    vec3 F = spec_color + (vec3(1.0) - spec_color) * pow(2.0, (-5.55473 * v_dot_h - 6.98316) * v_dot_h);
    float r2 = r * r;
    float ggxv = n_dot_l * sqrt(n_dot_v * n_dot_v * (1.0 - r2) + r2);
    float ggxl = n_dot_v * sqrt(n_dot_l * n_dot_l * (1.0 - r2) + r2);
    float V = (ggxv + ggxl > 0.0) ? 0.5 / (ggxv + ggxl) : 0.0;
    float f = n_dot_h * n_dot_h * (r2 - 1.0) + 1.0;
    float D = r2 / (PI * f * f);
    vec3 sun = p3d_LightSource[0].diffuse.rgb * n_dot_l * vr_exposure;
    v_sun = sun * diffuse_color / PI;
    v_spec = sun * F * V * D;

    // sky/ground ambient (constant and vertical SH terms, as the pbr tier uses)
    vec3 world_normal = normalize(mat3(p3d_ModelMatrixInverseTranspose) * p3d_Normal);
    vec3 irradiance = sh_coeffs[0] * 0.282095 + sh_coeffs[2] * 0.488603 * world_normal.z;
    float k = 1.0 - n_dot_v;
    vec3 ibl_f = spec_color + (max(vec3(1.0 - perceptual_roughness), spec_color) - spec_color) * (k * k * k * k * k);
    vec3 ibl_kd = (1.0 - ibl_f) * (1.0 - metallic);
    v_lit = (ibl_kd * base_rgb * max(irradiance, 0.0) / PI
             + (diffuse_color + spec_color) * p3d_LightModel.ambient.rgb) * vr_exposure;
#if MAX_LIGHTS > 1
    v_view_position = view_position.xyz;
    v_view_normal = n;
    v_head_color = diffuse_color * vr_exposure / PI;
#endif
}
"""

_VERTEX_LIT_FRAG = """#version 120
%(lights)suniform sampler2D p3d_Texture0;
uniform vec4 p3d_TexAlphaOnly;
uniform float global_shadow_bias;
varying vec3 v_lit;
varying vec3 v_sun;
varying vec3 v_spec;
varying float v_alpha;
varying vec2 v_texcoord;
varying vec4 v_shadow_pos;
#if MAX_LIGHTS > 1
varying vec3 v_view_position;
varying vec3 v_view_normal;
varying vec3 v_head_color;
#endif

void main() {
    vec4 tex = texture2D(p3d_Texture0, v_texcoord) + p3d_TexAlphaOnly;
    vec3 albedo = tex.rgb * tex.rgb * (vec3(0.7) + 0.3 * tex.rgb);            // sRGB to linear
    // one shadow-map sample (the driver's depth compare, no PCF)
    vec3 coords = v_shadow_pos.xyz / v_shadow_pos.w;
    coords.z -= global_shadow_bias;
    float shadow = shadow2D(p3d_LightSource[0].shadowMap, coords).r;
    vec3 c = albedo * (v_lit + shadow * v_sun) + shadow * v_spec;
#if MAX_LIGHTS > 1
    // the headlights: spot cone, attenuation, Lambert
    vec3 n = normalize(v_view_normal);
    for (int i = 1; i < MAX_LIGHTS; ++i) {
        vec3 to_light = p3d_LightSource[i].position.xyz - v_view_position;
        float dist2 = dot(to_light, to_light);
        vec3 l = to_light * inversesqrt(dist2);
        float spot = smoothstep(p3d_LightSource[i].spotCosCutoff - 0.001, p3d_LightSource[i].spotCosCutoff + 0.001,
                                dot(p3d_LightSource[i].spotDirection, -l));
        vec3 att = p3d_LightSource[i].attenuation;
        float lit = spot * max(dot(n, l), 0.0) / (att.x + att.y * sqrt(dist2) + att.z * dist2);
        c += albedo * v_head_color * p3d_LightSource[i].diffuse.rgb * lit;
    }
#endif
    // simplepbr's filmic tone map (Hejl-Burgess-Dawson, gamma included); exposure was applied per vertex
    c = max(vec3(0.0), c - vec3(0.004));
    c = (c * (vec3(6.2) * c + vec3(0.5))) / (c * (vec3(6.2) * c + vec3(1.7)) + vec3(0.06));
    gl_FragColor = vec4(c, v_alpha * tex.a);
}
"""


def _vertex_lit_shader(max_lights: int):
    """The pbr-vertex tier's shader (see ``_VERTEX_LIT_VERT``)."""
    from panda3d.core import Shader

    lights = _GLSL_LIGHTS % {"max_lights": max_lights}
    shader = Shader.make(Shader.SL_GLSL, _VERTEX_LIT_VERT % {"lights": lights},
                         _VERTEX_LIT_FRAG % {"lights": lights})
    shader.set_filename(Shader.ST_none, f"vr-pbr-vertex-{max_lights}")
    return shader


_DEPTH_VERT = """#version 120
uniform mat4 p3d_ModelViewProjectionMatrix;
attribute vec4 p3d_Vertex;
void main() {
    gl_Position = p3d_ModelViewProjectionMatrix * p3d_Vertex;
}
"""
_DEPTH_FRAG = """#version 120
void main() {
    gl_FragColor = vec4(1.0);
}
"""


def _depth_shader():
    """The pbr-vertex tier's shadow pass: depth only (simplepbr's samples the base colour texture for
    every fragment of the shadow map, which a CPU rasterizer pays for)."""
    from panda3d.core import Shader

    shader = Shader.make(Shader.SL_GLSL, _DEPTH_VERT, _DEPTH_FRAG)
    shader.set_filename(Shader.ST_none, "vr-depth")
    return shader


def _shadow_shader():
    from simplepbr import _shaderutils

    return _shaderutils.make_shader("shadow", "shadow.vert", "shadow.frag",
                                    {"USE_330": False, "IS_WEBGL": False, "ENABLE_SKINNING": False})


class PbrLook:
    """Applies the PBR shading to a Viewer's scene root and keeps its lights on the stage's mood."""

    kind = "pbr"

    def __init__(self, viewer, tier: str = "pbr", shadows: bool = True):
        from panda3d.core import (
            AmbientLight,
            BitMask32,
            DirectionalLight,
            Material,
            PTA_LVecBase3f,
            Shader,
            ShaderAttrib,
            Spotlight,
            Vec3,
        )
        from simplepbr import Pipeline

        self.viewer = viewer
        self.kind = tier
        root = viewer.root
        self.root = root
        self._Vec3 = Vec3
        # the scene's fixed-function lights are replaced by the mood's
        from panda3d.core import LightAttrib

        for np_ in [root, *root.find_all_matches("**;+s")]:
            attrib = np_.node().get_state().get_attrib(LightAttrib)
            if attrib is not None and not attrib.has_all_off():
                np_.clear_light()
        for holder in root.find_all_matches("**/lights"):
            holder.detach_node()
        material = Material("vr-default")
        material.set_base_color((1, 1, 1, 1))
        material.set_roughness(ROUGHNESS)
        material.set_metallic(METALLIC)
        root.set_material(material)
        # one shadowed light, or three on the night road (the headlights): llvmpipe pays per light
        make = _vertex_lit_shader if tier == "pbr-vertex" else _pbr_shader
        self.shaders = {1: make(1), 3: make(3)}
        root.set_shader(self.shaders[1])
        root.set_shader_input("global_shadow_bias", 0.004)
        root.set_shader_input("brdf_lut", Pipeline._BRDF_LUT)
        empty = Pipeline._EMPTY_ENV_MAP
        root.set_shader_input("filtered_env_map", empty.filtered_env_map)
        root.set_shader_input("max_reflection_lod", float(empty.filtered_env_map.num_loadable_ram_mipmap_images))
        self.sh = PTA_LVecBase3f.empty_array(9)
        root.set_shader_input("sh_coeffs", self.sh)
        root.set_shader_input("vr_exposure", 1.0)
        # updated in place every frame: a new shader input would change the root's state (and every
        # node's composed state below it) each frame
        self.camera_pos = PTA_LVecBase3f.empty_array(1)
        root.set_shader_input("camera_world_position", self.camera_pos)
        self.unlit = Shader.make(Shader.SL_GLSL, _UNLIT_VERT, _UNLIT_FRAG)
        self._mark_unlit(root)
        for hands in root.find_all_matches("**/learner-hands"):
            hands.hide(self._shadow_mask())      # so close to the eye they would only shadow themselves

        amb = AmbientLight("mood-ambient")
        amb.set_color((0, 0, 0, 1))       # the hemisphere fill comes from sh_coeffs
        self.ambient = root.attach_new_node(amb)
        sun = DirectionalLight("mood-main")
        # without shadows (a test's reference) Panda3D binds a dummy shadow map: everything is lit
        sun.set_shadow_caster(shadows, SHADOW_SIZE, SHADOW_SIZE)
        sun.set_priority(100)             # first in p3d_LightSource: the shader's shadowed light
        sun.set_camera_mask(BitMask32.bit(SHADOW_MASK_BIT))
        shadow_shader = _depth_shader() if tier == "pbr-vertex" else _shadow_shader()
        state = sun.get_initial_state().add_attrib(ShaderAttrib.make(shadow_shader), 100)
        sun.set_initial_state(state)
        self.sun = root.attach_new_node(sun)
        # the car's headlights, in the car's frame (a scene with a car) or else the learner's body frame
        self.frame = root.attach_new_node("mood-frame")
        self.heads = []
        for side in (-1, 1):
            lamp = Spotlight(f"headlight-{side}")
            lamp.get_lens().set_fov(60, 32)
            lamp.set_attenuation((1.0, 0.0, 0.01))
            node = self.frame.attach_new_node(lamp)
            node.set_pos(0.7 * side, 2.3, 0.7)
            node.set_p(-5)
            self.heads.append(node)
        root.set_light(self.ambient)
        root.set_light(self.sun)
        self._mood: tuple | None = None

    def _mark_unlit(self, root) -> None:
        """Nodes a scene marks unlit (``set_light_off``) keep their flat colour: light panels, the sky
        in the windows, signs and text."""
        from panda3d.core import LightAttrib, TextNode

        for np_ in [root, *root.find_all_matches("**;+s")]:
            attrib = np_.node().get_state().get_attrib(LightAttrib)
            if attrib is not None and attrib.has_all_off():
                np_.set_shader(self.unlit, 10)
                np_.hide(self._shadow_mask())
            node = np_.node()
            if isinstance(node, TextNode) and node.has_card() and not node.get_card_decal():
                node.set_card_decal(True)      # text on its card is coplanar: drawn as a decal, no z-fight

    @staticmethod
    def _shadow_mask():
        from panda3d.core import BitMask32

        return BitMask32.bit(SHADOW_MASK_BIT)

    def refresh(self) -> None:
        """After nodes were added to the scene (the hands): mark the new unlit ones."""
        self._mark_unlit(self.root)

    def sky(self, scene) -> tuple | None:
        mood, _indoor = mood_of(scene)
        return mood.sky

    def sync(self, scene) -> None:
        mood, indoor = mood_of(scene)
        body = scene.body
        if (mood.name, indoor) != self._mood:
            self._apply(mood, indoor)
        # the main light follows the learner: its shadow map covers the room or road around them
        h, p = math.radians(mood.main_hpr[0]), math.radians(mood.main_hpr[1])
        forward = self._Vec3(-math.sin(h) * math.cos(p), math.cos(h) * math.cos(p), math.sin(p))
        gaze = math.radians(body.gaze_h)
        target = self._Vec3(body.x - 2.0 * math.sin(gaze), body.y + 2.0 * math.cos(gaze), 0.0)
        if indoor:      # the light's near plane sits 2.3 m above the floor: ceilings cast no shadow
            back = 2.3 / max(0.2, -forward.z)
        else:
            back = 60.0
        self.sun.set_pos(target - forward * back)
        self.sun.set_hpr(*mood.main_hpr)
        self.camera_pos[0] = self.viewer.camera.get_pos(self.root)
        if self.kind == "pbr-vertex":
            self._near_casters(body)
        if hasattr(scene, "car_x"):
            self.frame.set_pos(scene.car_x, scene.car_y, 0.0)
            self.frame.set_h(getattr(scene, "car_h", 0.0))
        else:
            self.frame.set_pos(body.x, body.y, 0.0)
            self.frame.set_h(body.heading)

    def _near_casters(self, body) -> None:
        """Only the ``SHADOW_PEOPLE`` people nearest the learner, within ``SHADOW_PEOPLE_RADIUS``,
        cast shadows (their figures; the people's own show/hide stays theirs)."""
        people = getattr(self.viewer.world, "nodes", {}).get("people")
        persons = getattr(people, "persons", None)
        if not persons:
            return
        mask = self._shadow_mask()
        near = []
        for person in persons.values():
            root = person.root
            d2 = (root.get_x(self.root) - body.x) ** 2 + (root.get_y(self.root) - body.y) ** 2
            near.append((d2, root))
        near.sort(key=lambda item: item[0])
        for rank, (d2, root) in enumerate(near):
            cast = rank < SHADOW_PEOPLE and d2 < SHADOW_PEOPLE_RADIUS ** 2
            for child in root.get_children():
                child.show(mask) if cast else child.hide(mask)

    def _apply(self, mood: Mood, indoor: bool) -> None:
        self._mood = (mood.name, indoor)
        sun = self.sun.node()
        sun.set_color((*(c * math.pi for c in mood.main), 1))
        lens = sun.get_lens()
        if indoor:
            lens.set_film_size(16, 16)
            lens.set_near_far(0.0, 8.0)
            self.root.set_shader_input("global_shadow_bias", 0.004)
        else:
            lens.set_film_size(44, 44)
            lens.set_near_far(1.0, 140.0)
            self.root.set_shader_input("global_shadow_bias", 0.0012)
        for idx, c in enumerate(ambient_sh(mood.ambient_up, mood.ambient_down)):
            self.sh[idx] = self._Vec3(*c)
        self.root.set_shader_input("vr_exposure", mood.exposure)
        self.root.set_shader(self.shaders[3 if mood.headlights else 1])
        for lamp in self.heads:
            lamp.node().set_color((9.0, 8.4, 7.0, 1) if mood.headlights else (0, 0, 0, 1))
            if mood.headlights:
                self.root.set_light(lamp)
            else:
                self.root.clear_light(lamp)

    def close(self) -> None:
        # the shadow map's buffer belongs to the graphics engine and keeps rendering the old scene (a
        # closed viewer's, every frame of the next one) until the light stops casting shadows
        self.sun.node().set_shadow_caster(False)
        self.root.clear_light()
        self.sun.remove_node()
        self.ambient.remove_node()
        self.frame.remove_node()
        self.heads = []


class SoftwareLook:
    """The scene's own fixed-function lights (p3tinydisplay has no shaders)."""

    kind = "software"

    def __init__(self, viewer):
        self.viewer = viewer

    def refresh(self) -> None:
        pass

    def sky(self, scene):
        return None

    def sync(self, scene) -> None:
        pass

    def close(self) -> None:
        pass


_announced: set[str] = set()


def decide_look(gsg, backend: str, force: str | None = None) -> str:
    """The look for a window's GSG: "pbr" | "pbr-vertex" | "software". PBR where the renderer runs GLSL,
    else the software one (``force="software"`` or the environment's ``VR_LOOK=software`` asks for the
    software look). PBR comes in two tiers (``choose_tier``): per pixel on a GPU, per vertex on Mesa's
    CPU rasterizers (``VR_LOOK=pbr`` / ``VR_LOOK=pbr-vertex`` force one). Says once per process
    (stderr, one line) which look it chose and why."""
    import os
    import sys

    shaders = bool(gsg.get_supports_basic_shaders() and gsg.get_supports_glsl())
    kind, reason = choose_look(shaders, backend)
    force = force or os.environ.get("VR_LOOK") or None
    if force == "software" and kind == "pbr":
        kind, reason = "software", f"{backend}: software look requested, PBR off"
    if kind == "pbr":
        renderer = gsg.get_driver_renderer()
        kind, why = choose_tier(renderer, force)
        reason = f"{kind}: {reason} on {renderer}; {why}"
    if reason not in _announced:
        _announced.add(reason)
        print(f"look: {reason}", file=sys.stderr, flush=True)     # stdout may carry a run's JSON
    return kind


def make_look(viewer, backend: str, force: str | None = None, shadows: bool = True, kind: str | None = None):
    """The look object for this viewer's window (``decide_look`` unless ``kind`` was decided already);
    ``shadows=False`` turns the main light's shadow off (a reference image for the tests)."""
    kind = kind or decide_look(viewer.b.win.get_gsg(), backend, force)
    return SoftwareLook(viewer) if kind == "software" else PbrLook(viewer, kind, shadows=shadows)


# --- key frames in both looks (tests, the gallery, a look at a stage) ------------------------------------
def main(argv: list[str] | None = None) -> int:
    """Render stages' key frames with the look the backend allows, optionally with the hands hidden too:

        python -m vr_scenes.look --backend headlessgl --out DIR --shots prison:arrival,drunk:sober_lap [--stereo]

    Writes ``<scene>-<stage>.png`` (and ``-nohands.png``) and ``manifest.json`` with the look chosen."""
    import argparse
    import json
    import os

    from . import registry, view
    from .core import fast_forward

    parser = argparse.ArgumentParser(description="key frames with the PBR or software look")
    parser.add_argument("--out", required=True)
    parser.add_argument("--shots", required=True, help="scene:stage[@seconds],... ")
    parser.add_argument("--size", default="480x270")
    parser.add_argument("--backend", default="headlessgl", choices=sorted(view.BACKENDS))
    parser.add_argument("--stereo", action="store_true")
    parser.add_argument("--nohands", action="store_true", help="also render each shot with the hands hidden")
    parser.add_argument("--no-effects", action="store_true", help="vision effects off")
    parser.add_argument("--no-shadows", action="store_true", help="PBR: the main light casts no shadow")
    args = parser.parse_args(argv)
    w, h = (int(v) for v in args.size.split("x"))
    view.configure((w, h), backend=args.backend)
    os.makedirs(args.out, exist_ok=True)
    shots = []
    for spec in args.shots.split(","):
        where, _, at = spec.partition("@")
        key, stage_key = where.split(":")
        scene = registry.create(key)
        stage = next(s for s in scene.stages if s.key == stage_key)
        viewer = view.Viewer(scene, stereo=args.stereo, effects=not args.no_effects, shadows=not args.no_shadows)
        try:
            fast_forward(scene, dt=1 / 30, until_stage=stage_key, until_t=float(at) if at else stage.keyframe_s)
            viewer.update(0.0)
            viewer.render()
            viewer.render()
            path = os.path.join(args.out, f"{key}-{stage_key}.png")
            viewer.save(path)
            entry = {"scene": key, "stage": scene.stage.key, "path": path, "look": viewer.look.kind,
                     "hands": viewer.hands.state.right.pose if viewer.hands else None}
            if args.nohands and viewer.hands is not None:
                viewer.hands.set_visible(False)
                viewer.render()
                entry["nohands"] = os.path.join(args.out, f"{key}-{stage_key}-nohands.png")
                viewer.save(entry["nohands"])
                viewer.hands.set_visible(True)
            shots.append(entry)
        finally:
            viewer.close()
    with open(os.path.join(args.out, "manifest.json"), "w", encoding="utf-8") as fh:
        json.dump({"size": [w, h], "stereo": args.stereo, "backend": args.backend, "shots": shots}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
