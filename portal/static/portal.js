// Ferry partner portal: confirmations, and uploads with a progress bar per
// file, several at once, by button or drag and drop, sent in parts that go
// on where they stopped after a dropped connection.
(function () {
  'use strict';
  document.querySelectorAll('form[data-confirm]').forEach(function (f) {
    f.addEventListener('submit', function (e) {
      if (!window.confirm(f.dataset.confirm)) e.preventDefault();
    });
  });

  var card = document.getElementById('upload-card');
  var form = document.getElementById('upload-form');
  if (!card || !form) return;
  var input = document.getElementById('file');
  var drop = document.getElementById('drop');
  var list = document.getElementById('progress');
  var button = document.getElementById('upload-btn');
  var dir = card.dataset.dir;
  var csrf = card.dataset.csrf;
  var partSize = Number(card.dataset.part) || 8 * 1024 * 1024;
  button.hidden = true; // files start as soon as they are chosen or dropped

  function target(name) {
    return (dir === '/' ? '' : dir) + '/' + name;
  }

  function status(path) {
    return fetch('/portal/upload?path=' + encodeURIComponent(path), { credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) { return r.ok ? r.json() : { offset: 0 }; });
  }

  // send posts one part; it resolves with the server's answer, or rejects
  // when the connection failed (the caller asks where to go on).
  function send(path, file, offset, end, onprogress) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open('POST', '/portal/upload?path=' + encodeURIComponent(path));
      xhr.setRequestHeader('X-CSRF-Token', csrf);
      xhr.setRequestHeader('Content-Range', file.size === 0 ? 'bytes */0' : 'bytes ' + offset + '-' + (end - 1) + '/' + file.size);
      xhr.upload.onprogress = function (e) { onprogress(offset + e.loaded); };
      xhr.onload = function () {
        var body = {};
        try { body = JSON.parse(xhr.responseText); } catch (err) { /* not JSON */ }
        resolve({ status: xhr.status, body: body });
      };
      xhr.onerror = function () { reject(new Error('connection lost')); };
      xhr.ontimeout = xhr.onerror;
      xhr.send(file.slice(offset, end));
    });
  }

  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  function row(file) {
    var li = document.createElement('li');
    var label = document.createElement('span');
    label.className = 'name';
    label.textContent = file.name;
    var bar = document.createElement('progress');
    bar.max = 100; bar.value = 0;
    bar.setAttribute('aria-label', 'Upload of ' + file.name);
    var pct = document.createElement('span');
    pct.className = 'pct';
    pct.textContent = '0 %';
    var note = document.createElement('span');
    note.className = 'note';
    li.append(label, bar, pct, note);
    list.appendChild(li);
    return {
      li: li,
      progress: function (n) {
        var p = file.size === 0 ? 100 : Math.floor(n * 100 / file.size);
        bar.value = p; pct.textContent = p + ' %';
      },
      note: function (t, cls) { note.textContent = t; li.className = cls || ''; }
    };
  }

  async function upload(file) {
    var path = target(file.name);
    var ui = row(file);
    // Go on with an earlier attempt only if it was this very file.
    var key = 'ferry-upload:' + path;
    var mark = JSON.stringify({ size: file.size, modified: file.lastModified });
    var offset = 0;
    if (localStorage.getItem(key) === mark) {
      offset = Math.min((await status(path)).offset || 0, file.size);
    }
    localStorage.setItem(key, mark);
    var failures = 0;
    for (;;) {
      var end = Math.min(offset + partSize, file.size);
      var res;
      try {
        ui.progress(offset);
        res = await send(path, file, offset, end, ui.progress);
      } catch (err) {
        res = null;
      }
      if (res && res.status === 200) {
        failures = 0;
        offset = res.body.offset;
        ui.progress(offset);
        if (res.body.done) {
          localStorage.removeItem(key);
          ui.note('Done', 'ok');
          return true;
        }
        continue;
      }
      if (res && res.status === 409) {
        offset = res.body.offset || 0;
        continue;
      }
      if (res && res.status >= 400 && res.status < 500 || res && res.status === 507) {
        localStorage.removeItem(key);
        ui.note(res.body.error || 'The upload was refused.', 'failed');
        return false;
      }
      // The connection dropped or the server failed: wait, ask how much
      // arrived, go on from there.
      if (++failures > 30) {
        ui.note('The connection keeps failing. Choose the file again later; it goes on where it stopped.', 'failed');
        return false;
      }
      ui.note('Connection lost; trying again…', 'retry');
      await sleep(Math.min(500 * Math.pow(2, failures - 1), 15000));
      try {
        offset = Math.min((await status(path)).offset || 0, file.size);
        ui.note('', '');
      } catch (err) { /* still offline: the next round tries again */ }
    }
  }

  function uploadAll(files) {
    if (!files.length) return;
    Promise.all(Array.prototype.map.call(files, upload)).then(function (oks) {
      input.value = '';
      if (oks.every(Boolean)) {
        // A moment to see every bar at 100 %, then the list with the files.
        setTimeout(function () { window.location.assign(window.location.pathname + '?done=uploaded'); }, 800);
      }
    });
  }

  form.addEventListener('submit', function (e) { e.preventDefault(); uploadAll(input.files); });
  input.addEventListener('change', function () { uploadAll(input.files); });
  ['dragenter', 'dragover'].forEach(function (t) {
    drop.addEventListener(t, function (e) { e.preventDefault(); drop.classList.add('over'); });
  });
  ['dragleave', 'drop'].forEach(function (t) {
    drop.addEventListener(t, function () { drop.classList.remove('over'); });
  });
  drop.addEventListener('drop', function (e) {
    e.preventDefault();
    uploadAll(e.dataTransfer.files);
  });
})();
