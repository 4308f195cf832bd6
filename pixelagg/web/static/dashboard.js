// Copy buttons: <button data-copy="ID"> copies the text of the element with that id.
// The buttons start hidden, so nothing that does not work is shown without JavaScript.
"use strict";

(function () {
  function say(button, text) {
    const status = button.parentElement.querySelector(".status");
    if (status) {
      status.textContent = text;
    }
  }

  function fallback(source) {
    // Older or restricted browsers: select the text so the reader can copy it.
    source.focus();
    source.select();
    try {
      return document.execCommand("copy");
    } catch (err) {
      return false;
    }
  }

  function copy(button) {
    const source = document.getElementById(button.dataset.copy);
    if (!source) {
      return;
    }
    const text = source.value !== undefined ? source.value : source.textContent;
    const done = function () {
      button.textContent = "Copied";
      say(button, "The snippet is on the clipboard.");
      window.setTimeout(function () {
        button.textContent = "Copy snippet";
      }, 2500);
    };
    const failed = function () {
      if (fallback(source)) {
        done();
      } else {
        button.textContent = "Copy snippet";
        say(button, "Copying is not allowed here: the text is selected, press Ctrl+C or \u2318C.");
      }
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, failed);
    } else {
      failed();
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        copy(button);
      });
    });
  });
})();
