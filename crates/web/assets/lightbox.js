// The post page's lightbox: a photo of a post (a link to its full rendition, which is what a
// click does without script) opens large over the page. Esc or the close button closes it,
// the arrow keys (and the buttons) move between the post's photos, Tab stays inside it, and
// focus goes back to the photo it was opened from.
(function () {
  "use strict";
  var box, img, count, prev, next, closeBtn, links = [], at = 0, opener = null;

  function build() {
    box = document.createElement("div");
    box.className = "lightbox";
    box.setAttribute("role", "dialog");
    box.setAttribute("aria-modal", "true");
    box.setAttribute("aria-label", "Photo viewer");
    box.hidden = true;
    var figure = document.createElement("figure");
    img = document.createElement("img");
    img.alt = "";
    count = document.createElement("figcaption");
    count.className = "lightbox-count";
    count.setAttribute("aria-live", "polite");
    figure.appendChild(img);
    figure.appendChild(count);
    closeBtn = button("lightbox-close", "Close", "\u00d7");
    prev = button("lightbox-prev", "Previous photo", "\u2039");
    next = button("lightbox-next", "Next photo", "\u203a");
    box.appendChild(figure);
    box.appendChild(prev);
    box.appendChild(next);
    box.appendChild(closeBtn);
    closeBtn.addEventListener("click", close);
    prev.addEventListener("click", function () { show(at - 1); });
    next.addEventListener("click", function () { show(at + 1); });
    // A click on the backdrop (not the photo or a button) closes.
    box.addEventListener("click", function (e) {
      if (e.target === box || e.target === figure) close();
    });
    box.addEventListener("keydown", keys);
    document.body.appendChild(box);
  }

  function button(cls, label, text) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "lightbox-button " + cls;
    b.setAttribute("aria-label", label);
    b.textContent = text;
    return b;
  }

  function show(i) {
    if (!links.length) return;
    at = (i + links.length) % links.length;
    var link = links[at];
    var thumb = link.querySelector("img");
    img.src = link.getAttribute("href");
    img.alt = thumb ? thumb.alt : "";
    count.textContent = links.length > 1 ? (at + 1) + " of " + links.length : "";
    prev.hidden = next.hidden = links.length < 2;
  }

  function open(link) {
    if (!box) build();
    var group = link.closest(".post-media") || document;
    links = Array.prototype.slice.call(group.querySelectorAll("a[data-lightbox]"));
    opener = link;
    show(links.indexOf(link));
    box.hidden = false;
    document.documentElement.classList.add("lightbox-open");
    closeBtn.focus();
  }

  function close() {
    if (!box || box.hidden) return;
    box.hidden = true;
    img.removeAttribute("src");
    document.documentElement.classList.remove("lightbox-open");
    if (opener) opener.focus();
    opener = null;
  }

  function keys(e) {
    if (e.key === "Escape") {
      e.preventDefault();
      close();
    } else if (e.key === "ArrowLeft") {
      e.preventDefault();
      show(at - 1);
    } else if (e.key === "ArrowRight") {
      e.preventDefault();
      show(at + 1);
    } else if (e.key === "Tab") {
      // Focus stays on the viewer's buttons.
      var stops = [closeBtn, prev, next].filter(function (b) { return !b.hidden; });
      var i = stops.indexOf(document.activeElement);
      e.preventDefault();
      var step = e.shiftKey ? -1 : 1;
      stops[(i + step + stops.length) % stops.length].focus();
    }
  }

  document.addEventListener("click", function (e) {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    var link = e.target.closest && e.target.closest("a[data-lightbox]");
    if (!link) return;
    e.preventDefault();
    open(link);
  });
})();
