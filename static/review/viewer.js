// viewer.js: the application page's document viewer. The page lists every document as a
// thumbnail with links that open it (templates/review/_documents.html); this script shows
// the one opened in a stage above the list: zoom (buttons, + and -, Ctrl and the wheel),
// rotate by quarter turns, fit the width or the whole page, full screen (with the facts
// strip and tools kept in view), previous and next document, a PDF's pages as pictures the
// server draws. It opens the first document when the page opens. Each picture is loaded
// once per page visit and kept: opening a document is one view in the audit trail, and
// looking at it again, zoomed or turned, is not another. keys.js calls window.deskViewer.
(() => {
  "use strict";
  const root = document.getElementById("viewer");
  const stage = document.getElementById("viewer-stage");
  if (!root || !stage) return;
  const items = Array.from(root.querySelectorAll(".viewer-item"));
  if (!items.length) return;
  const toolbar = root.querySelector(".viewer-toolbar");
  const status = document.getElementById("viewer-status");
  const pdfTools = root.querySelector("[data-pdf-only]");
  const fullButton = root.querySelector("[data-act=fullscreen]");
  const canvas = document.createElement("div");
  canvas.className = "viewer-canvas";
  stage.appendChild(canvas);
  const pictures = new Map(); // address -> <img>, kept for the page visit
  const view = { index: -1, page: 1, rotation: 0, zoom: 0, fit: "whole", scale: 1, note: "" };

  const current = () => items[view.index];
  const isPdf = (item) => item.dataset.kind === "pdf";
  const pageCount = (item) => parseInt(item.dataset.pages || "0", 10); // 0: not known yet
  const address = (item) => (isPdf(item) ? item.dataset.pagesSrc + view.page : item.dataset.open);

  function say(text) {
    view.note = text;
    describe();
  }

  function describe() {
    const item = current();
    if (!item) return;
    const parts = [item.dataset.title, `document ${view.index + 1} of ${items.length}`];
    if (isPdf(item)) parts.push(`page ${view.page}${pageCount(item) ? " of " + pageCount(item) : ""}`);
    parts.push(`${Math.round(view.scale * 100)}%`);
    if (view.rotation) parts.push(`turned ${view.rotation}°`);
    status.textContent = parts.join(" · ") + (view.note ? ". " + view.note : "");
  }

  function message(text) {
    canvas.textContent = "";
    canvas.removeAttribute("style");
    const p = document.createElement("p");
    p.className = "viewer-message";
    p.textContent = text + " ";
    const link = document.createElement("a");
    link.href = current().dataset.open.replace(/\/pages\/\d+$/, "") + "?download=1";
    link.textContent = "Download it";
    p.appendChild(link);
    canvas.appendChild(p);
  }

  function failed(item, page, src) {
    pictures.delete(src); // shown again later, it is asked for again, not kept broken
    if (current() === item && view.page === page) {
      message("This document could not be shown here (damaged, or hard to draw).");
    }
  }

  function show() {
    const item = current();
    canvas.textContent = "";
    pdfTools.hidden = !isPdf(item);
    if (item.hasAttribute("data-unreadable")) {
      message("This PDF cannot be drawn as pages.");
      describe();
      return;
    }
    const src = address(item);
    let img = pictures.get(src);
    if (!img) {
      const page = view.page;
      img = new Image();
      img.alt = item.dataset.title + (isPdf(item) ? `, page ${page}` : "");
      img.draggable = false;
      img.addEventListener("load", () => img === canvas.firstChild && layout());
      img.addEventListener("error", () => failed(item, page, src));
      img.src = src;
      pictures.set(src, img);
    }
    canvas.appendChild(img);
    layout();
  }

  function layout() {
    const img = canvas.firstChild;
    if (!img || img.tagName !== "IMG" || !img.naturalWidth) {
      describe();
      return;
    }
    const turned = view.rotation % 180 !== 0;
    const w = img.naturalWidth, h = img.naturalHeight;
    const bw = turned ? h : w, bh = turned ? w : h;
    const sw = stage.clientWidth - 16, sh = stage.clientHeight - 16;
    const fitted = view.fit === "width" ? sw / bw : Math.min(sw / bw, sh / bh);
    view.scale = view.zoom || Math.min(8, Math.max(fitted, 0.02)); // a tiny photo: 8 times, no more
    img.style.width = `${w * view.scale}px`;
    img.style.height = `${h * view.scale}px`;
    img.style.transform = `translate(-50%, -50%) rotate(${view.rotation}deg)`;
    canvas.style.width = `${bw * view.scale}px`;
    canvas.style.height = `${bh * view.scale}px`;
    canvas.style.marginTop = `${Math.max(0, (stage.clientHeight - bh * view.scale) / 2)}px`;
    describe();
  }

  function open(index, page) {
    if (index < 0 || index >= items.length) {
      say(index < 0 ? "This is the first document." : "This is the last document.");
      return;
    }
    Object.assign(view, { index, page: page || 1, rotation: 0, zoom: 0, note: "" });
    items.forEach((item, i) => item.classList.toggle("is-current", i === index));
    show();
  }

  function turnPage(step, note) {
    const item = current();
    const next = view.page + step;
    const count = pageCount(item);
    if (!isPdf(item) || next < 1 || (count && next > count)) {
      say(isPdf(item) ? (next < 1 ? "This is the first page." : "This is the last page.")
        : "A photo has one page.");
      return;
    }
    view.page = next;
    view.note = note || "";
    show();
  }

  function zoomBy(factor) {
    // Keep the middle of what is seen in the middle.
    const cx = (stage.scrollLeft + stage.clientWidth / 2) / Math.max(canvas.offsetWidth, 1);
    const cy = (stage.scrollTop + stage.clientHeight / 2) / Math.max(canvas.offsetHeight, 1);
    view.zoom = Math.min(8, Math.max(0.05, view.scale * factor));
    view.note = "";
    layout();
    stage.scrollLeft = cx * canvas.offsetWidth - stage.clientWidth / 2;
    stage.scrollTop = cy * canvas.offsetHeight - stage.clientHeight / 2;
  }

  function fit(mode) {
    Object.assign(view, { fit: mode, zoom: 0, note: "" });
    layout();
    stage.scrollTop = 0;
  }

  function rotate(quarter) {
    view.rotation = (view.rotation + quarter * 90 + 360) % 360;
    view.note = "";
    layout();
  }

  function fullscreen() {
    if (document.fullscreenElement) document.exitFullscreen();
    else if (root.requestFullscreen) root.requestFullscreen().then(() => stage.focus(), () => say("Full screen is not available."));
  }

  const api = {
    next: () => open(view.index + 1),
    prev: () => open(view.index - 1),
    nextPage: () => turnPage(1),
    prevPage: () => turnPage(-1),
    zoomIn: () => zoomBy(1.25),
    zoomOut: () => zoomBy(0.8),
    fitWidth: () => fit("width"),
    fitWhole: () => fit("whole"),
    rotateRight: () => rotate(1),
    rotateLeft: () => rotate(-1),
    fullscreen,
    focus: () => stage.focus(),
  };
  window.deskViewer = api;

  toolbar.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-act]");
    if (button && api[button.dataset.act]) api[button.dataset.act]();
  });

  // A plain click on a thumbnail, a name or a page number opens it here; a click with a
  // modifier (a new tab) and the download link keep their usual meaning.
  root.querySelector(".document-list").addEventListener("click", (event) => {
    const link = event.target.closest("a[href]");
    const item = link && link.closest(".viewer-item");
    if (!item || /download=1/.test(link.href) || event.button !== 0 ||
        event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    const page = /\/pages\/(\d+)$/.exec(link.getAttribute("href"));
    open(items.indexOf(item), page ? parseInt(page[1], 10) : 1);
    stage.scrollIntoView({ block: "nearest" });
    stage.focus({ preventScroll: true });
  });

  stage.addEventListener("wheel", (event) => {
    if (!event.ctrlKey) return;
    event.preventDefault(); // the page itself is not zoomed
    zoomBy(event.deltaY < 0 ? 1.25 : 0.8);
  }, { passive: false });

  let drag = null; // dragging the picture moves it, as in any viewer
  stage.addEventListener("pointerdown", (event) => {
    if (event.button !== 0 || event.pointerType === "touch") return;
    drag = { x: event.clientX, y: event.clientY, left: stage.scrollLeft, top: stage.scrollTop };
    stage.setPointerCapture(event.pointerId);
    stage.classList.add("is-dragging");
  });
  stage.addEventListener("pointermove", (event) => {
    if (!drag) return;
    stage.scrollLeft = drag.left - (event.clientX - drag.x);
    stage.scrollTop = drag.top - (event.clientY - drag.y);
  });
  const release = () => { drag = null; stage.classList.remove("is-dragging"); };
  stage.addEventListener("pointerup", release);
  stage.addEventListener("pointercancel", release);

  document.addEventListener("fullscreenchange", () => {
    fullButton.setAttribute("aria-pressed", String(document.fullscreenElement === root));
    layout();
  });
  if (!root.requestFullscreen) fullButton.hidden = true;
  let pending = 0;
  window.addEventListener("resize", () => {
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(layout);
  });

  toolbar.hidden = stage.hidden = status.hidden = false;
  open(0);
})();
