// The survey builder shows each question's fields for its type only: a scale's range
// and end labels, a choice question's choices, a free-text answer's longest length.
// Without JavaScript every field stays in view; the server checks them all the same.
(function () {
  "use strict";
  var FIELDS_OF = {
    scale: ["scale_min", "scale_max", "low_label", "high_label"],
    single: ["choices"],
    multiple: ["choices"],
    text: ["max_length"],
  };
  var TYPED = ["scale_min", "scale_max", "low_label", "high_label", "choices", "max_length"];

  function rows(box, name) {
    // A text in five languages is a row per language: field-low_label__en, …
    return box.querySelectorAll(".form-row.field-" + name + ", .form-row[class*='field-" + name + "__']");
  }

  function update(select) {
    var box = select.closest(".inline-related");
    var shown = FIELDS_OF[select.value] || TYPED;
    TYPED.forEach(function (name) {
      rows(box, name).forEach(function (row) {
        row.style.display = shown.indexOf(name) === -1 ? "none" : "";
      });
    });
  }

  var TYPE_SELECT = ".inline-related select[name$='-type']";
  document.addEventListener("change", function (event) {
    if (event.target.matches(TYPE_SELECT)) update(event.target);
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(TYPE_SELECT).forEach(update);
  });
  // "Add another question" copies an empty form: show its fields for its type too.
  document.addEventListener("formset:added", function (event) {
    var select = event.target.querySelector("select[name$='-type']");
    if (select) update(select);
  });
})();
