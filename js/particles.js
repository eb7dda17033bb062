// @ts-check
/**
 * Slow drifting particles on a canvas behind the page. They stop, and the canvas is hidden,
 * when the user asks for reduced motion, and they pause while the tab is hidden.
 */

const FRAME_MS = 1000 / 30;
const LINK_DISTANCE = 130;
const COLORS = ["255, 255, 255", "165, 243, 252", "196, 181, 253"];

/** @typedef {{x: number, y: number, vx: number, vy: number, r: number, phase: number, color: string}} Particle */

export class Particles {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{matchMedia?: (query: string) => MediaQueryList}} [options]
   */
  constructor(canvas, { matchMedia = window.matchMedia.bind(window) } = {}) {
    this.canvas = canvas;
    this.context = canvas.getContext("2d");
    /** @type {Particle[]} */
    this.particles = [];
    this.frame = 0;
    this.last = 0;
    this.width = 0;
    this.height = 0;
    this.reduced = matchMedia("(prefers-reduced-motion: reduce)");
    this.reduced.addEventListener("change", () => this.update());
    document.addEventListener("visibilitychange", () => this.update());
    window.addEventListener("resize", () => {
      if (this.running) this.resize();
    });
    this.update();
  }

  /** True while frames are being drawn. */
  get running() {
    return this.frame !== 0;
  }

  /** Start or stop according to the motion preference and the tab's visibility. @private */
  update() {
    const allowed = !this.reduced.matches && this.context !== null;
    this.canvas.hidden = !allowed;
    if (allowed && !document.hidden) this.start();
    else this.stop();
    this.canvas.dataset.state = this.running ? "running" : "stopped";
  }

  /** @private */
  start() {
    if (this.running) return;
    this.resize();
    const step = (/** @type {number} */ now) => {
      this.frame = requestAnimationFrame(step);
      if (now - this.last < FRAME_MS) return;
      const dt = Math.min(0.1, (now - (this.last || now)) / 1000);
      this.last = now;
      this.draw(dt, now / 1000);
    };
    this.frame = requestAnimationFrame(step);
  }

  /** @private */
  stop() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.last = 0;
  }

  /** @private */
  resize() {
    const ratio = Math.min(2, window.devicePixelRatio || 1);
    this.width = window.innerWidth;
    this.height = window.innerHeight;
    this.canvas.width = Math.round(this.width * ratio);
    this.canvas.height = Math.round(this.height * ratio);
    this.context?.setTransform(ratio, 0, 0, ratio, 0, 0);
    const wanted = Math.round(Math.min(70, Math.max(24, (this.width * this.height) / 16000)));
    while (this.particles.length < wanted) this.particles.push(this.spawn());
    this.particles.length = wanted;
  }

  /** @private @returns {Particle} */
  spawn() {
    const angle = Math.random() * Math.PI * 2;
    const speed = 4 + Math.random() * 10;
    return {
      x: Math.random() * this.width,
      y: Math.random() * this.height,
      vx: Math.cos(angle) * speed,
      vy: Math.sin(angle) * speed - 3,
      r: 0.6 + Math.random() * 1.5,
      phase: Math.random() * Math.PI * 2,
      color: COLORS[Math.floor(Math.random() * COLORS.length)],
    };
  }

  /**
   * @private
   * @param {number} dt seconds since the last frame
   * @param {number} time seconds
   */
  draw(dt, time) {
    const context = this.context;
    if (!context) return;
    const { width, height, particles } = this;
    context.clearRect(0, 0, width, height);
    for (const p of particles) {
      p.x += p.vx * dt;
      p.y += p.vy * dt;
      if (p.x < -10) p.x = width + 10;
      if (p.x > width + 10) p.x = -10;
      if (p.y < -10) p.y = height + 10;
      if (p.y > height + 10) p.y = -10;
    }
    context.lineWidth = 0.6;
    for (let i = 0; i < particles.length; i++) {
      for (let j = i + 1; j < particles.length; j++) {
        const a = particles[i];
        const b = particles[j];
        const distance = Math.hypot(a.x - b.x, a.y - b.y);
        if (distance < LINK_DISTANCE) {
          context.strokeStyle = `rgba(165, 180, 252, ${0.12 * (1 - distance / LINK_DISTANCE)})`;
          context.beginPath();
          context.moveTo(a.x, a.y);
          context.lineTo(b.x, b.y);
          context.stroke();
        }
      }
    }
    for (const p of particles) {
      const alpha = 0.35 + 0.3 * Math.sin(time * 0.8 + p.phase);
      context.fillStyle = `rgba(${p.color}, ${alpha.toFixed(3)})`;
      context.beginPath();
      context.arc(p.x, p.y, p.r, 0, Math.PI * 2);
      context.fill();
    }
  }
}
