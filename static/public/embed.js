/* The survey prompt on a shop's own pages. Copy-paste (docs/surveys-embed.md):
 *   <script src="https://crm.example.com/static/public/embed.js" data-token="TOKEN" async></script>
 * TOKEN comes from the shop's server: POST /api/survey-embeds/ (signed, expiring).
 * Options: data-target="css selector" to put the survey inside an element of the page
 * instead of a box in the corner; data-height (pixels, default 560).
 * It writes no cookie and reads nothing of the page; the survey runs in an iframe of
 * the CRM's origin, which allows framing only from the origins in SURVEY_EMBED_ORIGINS. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.getAttribute("data-token")) { return; }
  var origin = new URL(script.src, document.baseURI).origin;
  var token = script.getAttribute("data-token");
  var target = script.getAttribute("data-target") && document.querySelector(script.getAttribute("data-target"));
  var height = parseInt(script.getAttribute("data-height") || "560", 10);

  var box = document.createElement("div");
  box.setAttribute("role", "dialog");
  box.setAttribute("aria-label", script.getAttribute("data-label") || "Survey");
  box.className = "crm-survey";
  if (!target) {
    box.style.position = "fixed";
    box.style.right = "16px";
    box.style.bottom = "16px";
    box.style.width = "min(380px, calc(100vw - 32px))";
    box.style.zIndex = "2147483000";
    box.style.boxShadow = "0 4px 24px rgba(0,0,0,.25)";
  }
  box.style.background = "#fff";
  box.style.borderRadius = "8px";
  box.style.overflow = "hidden";

  var close = document.createElement("button");
  close.type = "button";
  close.textContent = "\u00d7";
  close.setAttribute("aria-label", script.getAttribute("data-close-label") || "Close");
  close.style.float = "right";
  close.style.font = "24px/1 sans-serif";
  close.style.border = "0";
  close.style.background = "transparent";
  close.style.padding = "6px 10px";
  close.style.cursor = "pointer";
  close.addEventListener("click", function () { box.remove(); });

  var frame = document.createElement("iframe");
  frame.src = origin + "/s/embed/" + encodeURIComponent(token) + "/";
  frame.title = script.getAttribute("data-label") || "Survey";
  frame.style.width = "100%";
  frame.style.height = height + "px";
  frame.style.border = "0";
  frame.style.display = "block";
  frame.setAttribute("referrerpolicy", "no-referrer");

  box.appendChild(close);
  box.appendChild(frame);
  (target || document.body).appendChild(box);
}());
