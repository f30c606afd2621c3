// The post page's player: each <video data-hls> plays its HLS playlist (signed for this
// viewer) through hls.js where Media Source Extensions exist, or natively (Safari on iOS).
(function () {
  "use strict";
  function start(video) {
    var src = video.getAttribute("data-hls");
    if (!src) return;
    if (window.Hls && window.Hls.isSupported()) {
      // No worker: the page's Content-Security-Policy allows no blob: workers.
      var hls = new window.Hls({ enableWorker: false, capLevelToPlayerSize: true });
      hls.on(window.Hls.Events.ERROR, function (_e, data) {
        if (data && data.fatal) {
          video.setAttribute("data-player-error", data.details || "error");
        }
      });
      hls.loadSource(src);
      hls.attachMedia(video);
      video.setAttribute("data-player", "hls.js");
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = src;
      video.setAttribute("data-player", "native");
    } else {
      video.setAttribute("data-player-error", "unsupported");
    }
  }
  function all() {
    var videos = document.querySelectorAll("video[data-hls]");
    for (var i = 0; i < videos.length; i++) start(videos[i]);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", all);
  } else {
    all();
  }
})();
