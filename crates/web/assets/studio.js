/* The creator studio's uploader, media picker and vault refresher. The pages work without it:
   the vault has a plain upload form, the picker is checkboxes with position fields.
   Uploads go through tus (tus-js-client, vendored), with the session cookie and the CSRF
   token in X-CSRF-Token; an upload interrupted by a dropped connection is retried, and one
   interrupted by a closed tab resumes from where it stopped when the same file is chosen
   again (tus-js-client's fingerprint in localStorage). */
(function () {
  'use strict';
  var POLL_MS = 3000;
  var LABELS = { processing: 'Processing', ready: 'Ready', failed: 'Failed', quarantined: 'Held for review' };
  var KINDS = { image: 'Photo', video: 'Video', audio: 'Audio' };
  var ICONS = { image: '\u25A3', video: '\u25B6', audio: '\u266A' };

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function size(n) {
    var units = ['B', 'KB', 'MB', 'GB', 'TB'];
    var u = 0;
    while (n >= 1000 && u < units.length - 1) { n /= 1000; u++; }
    return (u === 0 || n >= 100 ? Math.round(n) : n.toFixed(1)) + ' ' + units[u];
  }

  function errorText(err) {
    var res = err && err.originalResponse;
    if (res) {
      try {
        var body = JSON.parse(res.getBody());
        if (body && body.error && body.error.message) return body.error.message;
      } catch (e) { /* not our JSON */ }
    }
    return (err && err.message ? String(err.message).split('\n')[0] : 'The upload failed.');
  }

  function getItem(id) {
    return fetch('/api/v1/media/' + encodeURIComponent(id), {
      credentials: 'same-origin', headers: { Accept: 'application/json' }
    }).then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); });
  }

  function thumbOf(item) {
    var rs = item.renditions || [];
    var best = null;
    rs.forEach(function (r) {
      var fits = item.kind === 'image' ? (!r.teaser && r.format === 'jpeg')
        : item.kind === 'video' ? r.name === 'poster.jpg' : r.name === 'waveform.png';
      if (fits && (!best || r.width < best.width)) best = r;
    });
    return best ? best.url : '';
  }

  function thumbBox(cls, item) {
    var box = el(cls === 'pick' ? 'label' : 'div', (cls === 'pick' ? 'pick-thumb' : 'media-thumb') + ' kind-' + item.kind);
    box.appendChild(el('span', 'thumb-icon', ICONS[item.kind] || ''));
    box.appendChild(el('span', 'kind-badge', KINDS[item.kind] || item.kind));
    return box;
  }

  function stateBadge(state) {
    var b = el('span', 'state-badge ' + state, LABELS[state] || state);
    b.setAttribute('data-state-label', '');
    return b;
  }

  /* Show an item's new state on its vault card or picker tile. */
  function applyState(node, item) {
    node.setAttribute('data-state', item.state);
    node.className = node.className.replace(/\bstate-\w+/, '').trim() + ' state-' + item.state;
    var badge = node.querySelector('[data-state-label]');
    if (badge) { badge.textContent = LABELS[item.state] || item.state; badge.className = 'state-badge ' + item.state; }
    var thumb = thumbOf(item);
    var box = node.querySelector('.media-thumb, .pick-thumb');
    if (thumb && box) {
      var img = box.querySelector('img');
      if (!img) {
        img = el('img');
        img.alt = '';
        var icon = box.querySelector('.thumb-icon');
        if (icon) box.removeChild(icon);
        box.insertBefore(img, box.firstChild);
      }
      img.src = thumb;
    }
    var err = node.querySelector('[data-error]');
    if (err && item.error) { err.textContent = item.error; err.hidden = false; }
    var dims = node.querySelector('[data-dims]');
    if (dims && item.width && item.height) dims.textContent = item.width + '\u00D7' + item.height;
  }

  /* Ask for an item's state every few seconds until it is no longer processing. */
  function poll(node) {
    var id = node.getAttribute('data-media-id');
    var timer = setInterval(function () {
      getItem(id).then(function (item) {
        if (item.state !== 'processing') { clearInterval(timer); applyState(node, item); }
      }).catch(function (status) {
        if (status === 401 || status === 404) clearInterval(timer);
      });
    }, POLL_MS);
  }

  function vaultCard(item, name) {
    var li = el('li', 'media-card state-' + item.state);
    li.setAttribute('data-media-id', item.id);
    li.setAttribute('data-state', item.state);
    li.appendChild(thumbBox('vault', item));
    var body = el('div', 'media-body');
    var p = el('p', 'media-state');
    p.appendChild(stateBadge(item.state));
    p.appendChild(document.createTextNode(' '));
    p.appendChild(el('span', 'muted small', '#' + item.id));
    body.appendChild(p);
    var err = el('p', 'media-error');
    err.setAttribute('data-error', '');
    err.hidden = true;
    body.appendChild(err);
    var facts = el('p', 'muted small media-facts', size(item.bytes) + ' \u00B7 ');
    var dims = el('span', '', name);
    dims.setAttribute('data-dims', '');
    facts.appendChild(dims);
    body.appendChild(facts);
    body.appendChild(el('p', 'small media-uses muted', 'Not used in a post yet'));
    li.appendChild(body);
    return li;
  }

  function pickTile(item, picker) {
    var li = el('li', 'pick state-' + item.state);
    li.setAttribute('data-media-id', item.id);
    li.setAttribute('data-state', item.state);
    var box = el('input', 'pick-box');
    box.type = 'checkbox';
    box.id = 'pick-' + item.id;
    box.name = 'media';
    box.value = item.id;
    box.setAttribute('data-pick', '');
    li.appendChild(box);
    var thumb = thumbBox('pick', item);
    thumb.htmlFor = box.id;
    thumb.appendChild(stateBadge(item.state));
    li.appendChild(thumb);
    var lab = el('label', 'pick-order', 'Position ');
    var order = el('input');
    order.type = 'number';
    order.min = '1';
    order.max = '50';
    order.id = 'order-' + item.id;
    order.name = 'order_' + item.id;
    order.setAttribute('inputmode', 'numeric');
    order.setAttribute('data-order', '');
    lab.htmlFor = order.id;
    lab.appendChild(order);
    li.appendChild(lab);
    picker.appendChild(li);
    box.checked = true;
    order.value = nextPosition(picker, box);
    return li;
  }

  /* ---- the picker: ticking an item gives it the next position ---- */

  function picked(picker) {
    return Array.prototype.filter.call(picker.querySelectorAll('[data-pick]'), function (b) { return b.checked; });
  }

  function orderOf(box) { return box.closest('.pick').querySelector('[data-order]'); }

  function nextPosition(picker, except) {
    var max = 0;
    picked(picker).forEach(function (b) {
      if (b === except) return;
      var v = parseInt(orderOf(b).value, 10);
      if (v > max) max = v;
    });
    return String(max + 1);
  }

  function renumber(picker) {
    var boxes = picked(picker).map(function (b, i) {
      var v = parseInt(orderOf(b).value, 10);
      return { box: b, pos: isNaN(v) ? 1e9 + i : v, i: i };
    });
    boxes.sort(function (a, b) { return a.pos - b.pos || a.i - b.i; });
    boxes.forEach(function (x, i) { orderOf(x.box).value = String(i + 1); });
  }

  function setupPicker(picker) {
    picker.addEventListener('change', function (e) {
      var t = e.target;
      if (t.hasAttribute('data-pick')) {
        var order = orderOf(t);
        if (t.checked) { order.value = nextPosition(picker, t); } else { order.value = ''; renumber(picker); }
      } else if (t.hasAttribute('data-order')) {
        var box = t.closest('.pick').querySelector('[data-pick]');
        if (t.value && !box.checked) box.checked = true;
      }
    });
  }

  /* ---- uploads ---- */

  function finished(zone, id, name) {
    if (!id) return;
    getItem(id).then(function (item) {
      var node;
      if (zone.getAttribute('data-target') === 'picker') {
        var picker = document.querySelector('[data-picker]');
        if (!picker) return;
        node = pickTile(item, picker);
        var empty = document.querySelector('[data-picker-empty]');
        if (empty) empty.hidden = true;
      } else {
        var grid = document.querySelector('[data-vault-grid]');
        if (!grid) return;
        node = vaultCard(item, name);
        grid.insertBefore(node, grid.firstChild);
        var none = document.querySelector('[data-vault-empty]');
        if (none) none.hidden = true;
      }
      if (item.state === 'processing') poll(node); else applyState(node, item);
    });
  }

  function upload(zone, file) {
    var list = zone.querySelector('[data-list]');
    var row = el('li', 'upload');
    var head = el('div', 'upload-head');
    head.appendChild(el('strong', 'upload-name', file.name));
    head.appendChild(el('span', 'muted small', size(file.size)));
    row.appendChild(head);
    var bar = el('progress');
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute('aria-label', 'Uploading ' + file.name);
    row.appendChild(bar);
    var status = el('span', 'upload-status small', 'Starting\u2026');
    row.appendChild(status);
    list.appendChild(row);
    var mediaId = null;
    var done = false;
    var up = new window.tus.Upload(file, {
      endpoint: zone.getAttribute('data-endpoint'),
      chunkSize: 8 * 1024 * 1024,
      retryDelays: [0, 1000, 3000, 5000, 10000, 20000, 30000],
      headers: { 'X-CSRF-Token': zone.getAttribute('data-csrf') },
      metadata: { filename: file.name, filetype: file.type || 'application/octet-stream' },
      removeFingerprintOnSuccess: true,
      onAfterResponse: function (req, res) {
        var id = res.getHeader('Fanz-Media-Id');
        if (id) mediaId = id;
      },
      onProgress: function (sent, total) {
        var pct = total ? (sent / total) * 100 : 0;
        bar.value = pct;
        status.textContent = Math.floor(pct) + '% \u00B7 ' + size(sent) + ' of ' + size(total);
      },
      // A lost connection (no status) or a passing server error is retried; a refusal is not.
      onShouldRetry: function (err) {
        var code = err.originalResponse ? err.originalResponse.getStatus() : 0;
        return code === 0 || code >= 500 || code === 409 || code === 423;
      },
      onError: function (err) {
        var code = err.originalResponse ? err.originalResponse.getStatus() : 0;
        if (code === 0 && navigator.onLine === false) {
          // Still offline after the retries: go on from the same offset once back online.
          status.textContent = 'Offline · resumes when the connection is back';
          window.addEventListener('online', function () { if (!done) up.start(); }, { once: true });
          return;
        }
        row.classList.add('failed');
        status.textContent = errorText(err);
        status.setAttribute('role', 'alert');
      },
      onSuccess: function () {
        if (done) return;
        done = true;
        bar.value = 100;
        row.classList.add('done');
        status.textContent = 'Uploaded \u00B7 processing';
        row.setAttribute('data-media-id', mediaId || '');
        finished(zone, mediaId, file.name);
      }
    });
    up.findPreviousUploads().then(function (previous) {
      if (previous.length) {
        up.resumeFromPreviousUpload(previous[0]);
        status.textContent = 'Resuming\u2026';
      }
      up.start();
    });
  }

  function setupUploader(zone) {
    if (!window.tus || !window.tus.isSupported) return;
    zone.hidden = false;
    var form = zone.parentNode.querySelector('[data-nojs]');
    if (form) form.hidden = true;
    var input = zone.querySelector('[data-files]');
    var drop = zone.querySelector('[data-drop]');
    input.addEventListener('change', function () {
      Array.prototype.forEach.call(input.files, function (f) { upload(zone, f); });
      input.value = '';
    });
    ['dragenter', 'dragover'].forEach(function (ev) {
      drop.addEventListener(ev, function (e) { e.preventDefault(); drop.classList.add('over'); });
    });
    ['dragleave', 'drop'].forEach(function (ev) {
      drop.addEventListener(ev, function (e) { e.preventDefault(); drop.classList.remove('over'); });
    });
    drop.addEventListener('drop', function (e) {
      var files = e.dataTransfer && e.dataTransfer.files;
      if (files) Array.prototype.forEach.call(files, function (f) { upload(zone, f); });
    });
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll('[data-uploader]'), setupUploader);
    Array.prototype.forEach.call(document.querySelectorAll('[data-picker]'), setupPicker);
    Array.prototype.forEach.call(
      document.querySelectorAll('[data-media-id][data-state="processing"]'), poll);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
