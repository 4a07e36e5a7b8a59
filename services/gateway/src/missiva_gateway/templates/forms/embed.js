/* Missiva subscribe form: an inline frame, or a popup opened by its show rules.
   No cookie: a popup already shown is remembered in localStorage only. */
(function () {
  "use strict";
  var cfg = {{ config|safe }};
  var me = document.currentScript;
  var origin = me && me.src ? new URL(me.src).origin : "";
  var key = "missiva-form:" + cfg.id;
  var dayMs = 86400000;

  function seenRecently() {
    try {
      var at = Number(window.localStorage.getItem(key));
      return at > 0 && Date.now() - at < cfg.days * dayMs;
    } catch (e) {
      return false;
    }
  }
  function remember() {
    try { window.localStorage.setItem(key, String(Date.now())); } catch (e) { /* private mode */ }
  }
  function frame() {
    var f = document.createElement("iframe");
    f.src = origin + cfg.path;
    f.title = cfg.title;
    f.style.cssText = "border:0;width:100%;min-height:28rem;background:#fff";
    return f;
  }

  if (cfg.kind !== "popup") {
    if (me && me.parentNode) { me.parentNode.insertBefore(frame(), me.nextSibling); }
    return;
  }

  var shown = false;
  function close(overlay) {
    if (overlay.parentNode) { overlay.parentNode.removeChild(overlay); }
  }
  function open() {
    if (shown || seenRecently()) { return; }
    shown = true;
    remember();
    var overlay = document.createElement("div");
    overlay.setAttribute("role", "dialog");
    overlay.setAttribute("aria-modal", "true");
    overlay.setAttribute("aria-label", cfg.title);
    overlay.style.cssText = "position:fixed;inset:0;background:rgba(0,0,0,.5);z-index:2147483647;" +
      "display:flex;align-items:center;justify-content:center";
    var box = document.createElement("div");
    box.style.cssText = "background:#fff;max-width:32rem;width:92%;border-radius:.5rem;padding:.5rem";
    var shut = document.createElement("button");
    shut.type = "button";
    shut.textContent = "\u00d7";
    shut.setAttribute("aria-label", "Close");
    shut.style.cssText = "float:right;font-size:1.5rem;border:0;background:none;cursor:pointer";
    shut.addEventListener("click", function () { close(overlay); });
    overlay.addEventListener("click", function (e) { if (e.target === overlay) { close(overlay); } });
    document.addEventListener("keydown", function (e) { if (e.key === "Escape") { close(overlay); } });
    box.appendChild(shut);
    box.appendChild(frame());
    overlay.appendChild(box);
    document.body.appendChild(overlay);
  }

  if (seenRecently()) { return; }
  var ruled = false;
  if (cfg.delay > 0) { ruled = true; window.setTimeout(open, cfg.delay * 1000); }
  if (cfg.scroll > 0) {
    ruled = true;
    window.addEventListener("scroll", function () {
      var page = document.documentElement;
      var seen = (window.scrollY + window.innerHeight) / Math.max(page.scrollHeight, 1) * 100;
      if (seen >= cfg.scroll) { open(); }
    }, { passive: true });
  }
  if (cfg.exit) {
    ruled = true;
    document.addEventListener("mouseout", function (e) {
      if (!e.relatedTarget && e.clientY <= 0) { open(); }
    });
  }
  if (!ruled) { open(); }
})();
