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
  // Styles set through the CSSOM (no style attribute: a strict CSP on the shop's page allows this).
  Object.assign(box.style, { background: "#fff", borderRadius: "8px", overflow: "hidden" });
  if (!target) {
    Object.assign(box.style, {
      position: "fixed", right: "16px", bottom: "16px", width: "min(380px, calc(100vw - 32px))",
      zIndex: "2147483000", boxShadow: "0 4px 24px rgba(0,0,0,.25)"
    });
  }

  var close = document.createElement("button");
  close.type = "button";
  close.textContent = "\u00d7";
  close.setAttribute("aria-label", script.getAttribute("data-close-label") || "Close");
  Object.assign(close.style, {
    float: "right", font: "24px/1 sans-serif", border: "0", background: "transparent", padding: "6px 10px",
    cursor: "pointer"
  });
  close.addEventListener("click", function () { box.remove(); });

  var frame = document.createElement("iframe");
  frame.src = origin + "/s/embed/" + encodeURIComponent(token) + "/";
  frame.title = script.getAttribute("data-label") || "Survey";
  Object.assign(frame.style, { width: "100%", height: height + "px", border: "0", display: "block" });
  frame.setAttribute("referrerpolicy", "no-referrer");

  box.appendChild(close);
  box.appendChild(frame);
  (target || document.body).appendChild(box);
}());
