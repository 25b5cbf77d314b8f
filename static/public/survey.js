// Shows a question only when the earlier answer it depends on was given (the form works
// without this script: then every question shows, and the server ignores answers to
// questions whose condition is unmet).
(function () {
  "use strict";
  var form = document.querySelector("form.survey");
  if (!form) { return; }
  var dependents = form.querySelectorAll("[data-show-if]");
  function chosen(key) {
    var values = [];
    form.querySelectorAll("[name='" + key + "']").forEach(function (input) {
      if ((input.type === "radio" || input.type === "checkbox") ? input.checked : input.value) { values.push(input.value); }
    });
    return values;
  }
  function update() {
    dependents.forEach(function (question) {
      var wanted = question.getAttribute("data-show-if-values").split(" ");
      var shown = chosen(question.getAttribute("data-show-if")).some(function (value) { return wanted.indexOf(value) !== -1; });
      question.hidden = !shown;
    });
  }
  form.addEventListener("change", update);
  update();
}());
