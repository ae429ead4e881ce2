// The live map of notebook 05's latent explorer (vaelib/widgets/latent.py, through anywidget).
//
// The kernel draws the still layers once with matplotlib (``background``: the map of encoder means, axes, labels,
// the empty frame of the digit) and says where things go (``scene``, in the figure's pixels). This page draws the
// rest at the screen's pace: the marker at (z1, z2), the title, and the decoded digit (``digit``: 784 grey levels
// that the kernel sends for each new point). A drag moves the marker in this page, with no round trip; the
// kernel only decodes. Each frame is composed off screen and copied onto the visible canvas in one drawImage.

const fmt = v => {  // as Python's f"{v:+.2f}", without a "-0.00"
  const s = Math.abs(v).toFixed(2);
  return (v < 0 && s !== "0.00" ? "-" : "+") + s;
};

const title = (z1, z2) => `z = (${fmt(z1)}, ${fmt(z2)})`;

// A value on the sliders' grid (whole steps from -lim), within [-lim, lim]: what the sliders would show.
const snap = (v, lim, step) => {
  const k = Math.round((v + lim) / step);
  return Math.min(lim, Math.max(-lim, Number((-lim + k * step).toFixed(10))));
};

async function bitmap(view) {  // PNG bytes (a DataView) -> something drawImage can draw
  return createImageBitmap(new Blob([view], {type: "image/png"}));
}

// One frame of the figure onto ``canvas`` (any size: the figure is scaled to it).
function paint(canvas, scene, background, z1, z2, digit) {
  const ctx = canvas.getContext("2d");
  const k = canvas.width / scene.width;  // canvas pixels per figure pixel (the screen's pixel ratio)
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(background, 0, 0, canvas.width, canvas.height);
  ctx.setTransform(k, 0, 0, k, 0, 0);
  const im = scene.image;
  if (digit && digit.byteLength === 28 * 28) {  // grey levels, as matplotlib's gray_r colour map gives them
    const tile = new ImageData(28, 28);
    for (let i = 0; i < 28 * 28; i += 1) {
      const g = digit.getUint8(i);
      tile.data.set([g, g, g, 255], 4 * i);
    }
    const small = new OffscreenCanvas(28, 28);
    small.getContext("2d").putImageData(tile, 0, 0);
    ctx.imageSmoothingEnabled = false;  // matplotlib's nearest-neighbour upsampling of a 28 x 28 image
    ctx.drawImage(small, im.x, im.y, im.w, im.h);
    ctx.lineWidth = scene.spine.lw;  // the frame is drawn over the image, as matplotlib draws spines
    ctx.strokeStyle = scene.spine.color;
    ctx.strokeRect(im.x, im.y, im.w, im.h);
  }
  const m = scene.map, mk = scene.marker;
  const px = m.x + (z1 - m.xlim[0]) / (m.xlim[1] - m.xlim[0]) * m.w;
  const py = m.y + (m.ylim[1] - z2) / (m.ylim[1] - m.ylim[0]) * m.h;
  ctx.save();
  ctx.beginPath();
  ctx.rect(m.x, m.y, m.w, m.h);
  ctx.clip();  // the marker is clipped to the map's Axes, as matplotlib clips lines
  ctx.beginPath();
  mk.path.forEach(([dx, dy], i) => (i ? ctx.lineTo(px + dx, py + dy) : ctx.moveTo(px + dx, py + dy)));
  ctx.closePath();
  ctx.fillStyle = mk.face;
  ctx.fill();
  ctx.lineWidth = mk.lw;
  ctx.lineJoin = "miter";
  ctx.strokeStyle = mk.edge;
  ctx.stroke();
  ctx.restore();
  const t = scene.title;
  ctx.font = t.font;
  ctx.fillStyle = t.color;
  ctx.textAlign = "center";
  ctx.textBaseline = "alphabetic";
  ctx.fillText(title(z1, z2), t.x, t.y);
}

// A frame composed on ``frame`` (off screen), then copied onto the visible ``canvas`` in one drawImage.
function show(canvas, frame, scene, background, z1, z2, digit) {
  paint(frame, scene, background, z1, z2, digit);
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(frame, 0, 0);
}

async function render({model, el}) {
  const scene = model.get("scene");
  const lim = model.get("lim"), step = model.get("step");
  const ratio = Math.max(1, Math.min(3, window.devicePixelRatio || 1));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(scene.width * ratio);
  canvas.height = Math.round(scene.height * ratio);
  canvas.style.width = `${scene.width}px`;  // the figure's size, or narrower in a narrow page (same proportions)
  canvas.style.maxWidth = "100%";
  canvas.style.height = "auto";
  canvas.style.touchAction = "none";  // a drag on a touch screen moves the point, not the page
  canvas.style.cursor = "crosshair";
  canvas.tabIndex = 0;  // arrow keys move the point too (Shift: ten steps)
  canvas.setAttribute("role", "img");
  el.classList.add("vaelib-latent-map");
  el.appendChild(canvas);
  const frame = new OffscreenCanvas(canvas.width, canvas.height);
  let background = await bitmap(model.get("background"));
  let digitVersion = 0, painted = null, pending = null, request = 0;

  const draw = () => {
    request = 0;
    if (pending) {  // the pointer's latest point: to the model (and so to the sliders and the kernel) once a frame
      const [z1, z2] = pending;
      pending = null;
      if (z1 !== model.get("z1") || z2 !== model.get("z2")) {
        model.set({z1, z2});
        model.save_changes();
      }
    }
    const z1 = model.get("z1"), z2 = model.get("z2");
    const key = `${z1.toFixed(6)} ${z2.toFixed(6)} ${digitVersion}`;
    if (key === painted) return;  // nothing new to show: no frame
    painted = key;
    show(canvas, frame, scene, background, z1, z2, model.get("digit"));
    const label = title(z1, z2);
    canvas.dataset.title = label;
    canvas.setAttribute("aria-label", `Latent map, point at ${label}: drag or use the arrow keys to move it; ` +
                        "the decoded digit is on the right");
  };
  const schedule = () => { if (!request) request = requestAnimationFrame(draw); };
  const onDigit = () => { digitVersion += 1; schedule(); };
  model.on("change:z1", schedule);
  model.on("change:z2", schedule);
  model.on("change:digit", onDigit);

  const toLatent = ev => {  // the pointer's point in (z1, z2), held inside the map; null off the map at a press
    const r = canvas.getBoundingClientRect(), m = scene.map;
    const x = (ev.clientX - r.left) * scene.width / r.width, y = (ev.clientY - r.top) * scene.height / r.height;
    const u = (x - m.x) / m.w, v = (y - m.y) / m.h;
    return {inside: u >= 0 && u <= 1 && v >= 0 && v <= 1,
            z: [snap(m.xlim[0] + u * (m.xlim[1] - m.xlim[0]), lim, step),
                snap(m.ylim[1] - v * (m.ylim[1] - m.ylim[0]), lim, step)]};
  };
  let dragging = false;
  const moveTo = z => { pending = z; schedule(); };
  canvas.addEventListener("pointerdown", ev => {
    if (ev.button !== 0) return;
    const {inside, z} = toLatent(ev);
    if (!inside) return;
    dragging = true;
    try { canvas.setPointerCapture(ev.pointerId); } catch (e) { /* a synthetic pointer has no capture */ }
    moveTo(z);  // (the press also focuses the canvas, so the arrow keys move the point next)
  });
  canvas.addEventListener("pointermove", ev => {
    if (!dragging) return;
    if (!(ev.buttons & 1)) { dragging = false; return; }  // the button went up where we did not see it
    moveTo(toLatent(ev).z);
  });
  const stop = () => { dragging = false; };
  canvas.addEventListener("pointerup", stop);
  canvas.addEventListener("pointercancel", stop);
  canvas.addEventListener("keydown", ev => {
    const d = {ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowDown: [0, -1], ArrowUp: [0, 1]}[ev.key];
    if (!d) return;
    ev.preventDefault();
    const n = ev.shiftKey ? 10 : 1, [z1, z2] = pending || [model.get("z1"), model.get("z2")];
    moveTo([snap(z1 + n * d[0] * step, lim, step), snap(z2 + n * d[1] * step, lim, step)]);
  });

  // For tests: a new canvas drawn from scratch (a fresh background decode) for the given state, as a PNG data URL.
  canvas.freshFrame = async (z1, z2, digitBytes) => {
    const fresh = document.createElement("canvas");
    fresh.width = canvas.width;
    fresh.height = canvas.height;
    const digit = new DataView(Uint8Array.from(digitBytes).buffer);
    show(fresh, new OffscreenCanvas(canvas.width, canvas.height), scene, await bitmap(model.get("background")),
         z1, z2, digit);
    return fresh.toDataURL("image/png");
  };
  draw();
  return () => {
    model.off("change:z1", schedule);
    model.off("change:z2", schedule);
    model.off("change:digit", onDigit);
    if (request) cancelAnimationFrame(request);
    background = null;
  };
}

export default {render};
