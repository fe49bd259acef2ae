'use strict';
(function () {
  // Everything that comes from the API is inserted with textContent / createElement, never as markup.
  var TOKEN_KEY = 'parcours.staffToken';
  var PAGE = 25;
  var SVGNS = 'http://www.w3.org/2000/svg';
  var IRRITANTS = {
    negative_sentiment: 'Negative sentiment',
    repeated_fallback: 'Repeated fallback',
    repeated_question: 'Repeated question'
  };
  var OUTCOMES = { resolved: 'Resolved', abandoned: 'Abandoned', handed_off: 'Handed off', unresolved: 'Not solved' };
  var CHANNELS = { chat: 'Chat', voice: 'Voice', twilio: 'Twilio', alexa: 'Alexa', telegram: 'Telegram' };
  var CHANNEL_COLORS = { chat: '#2f5fd0', voice: '#6a43c9', twilio: '#c53a3a', alexa: '#137a9c', telegram: '#1a7fb5' };

  var $ = function (id) { return document.getElementById(id); };
  var generation = 0; // bumps on each navigation so a slow answer never paints over a newer view

  // ---------- DOM helpers (text only) ----------
  function el(tag, props, children) {
    var node = document.createElement(tag);
    if (props) {
      for (var k in props) {
        if (!Object.prototype.hasOwnProperty.call(props, k) || props[k] == null) continue;
        if (k === 'text') node.textContent = String(props[k]);
        else if (k === 'className') node.className = props[k];
        else if (k === 'on') { for (var ev in props.on) node.addEventListener(ev, props.on[ev]); }
        else node.setAttribute(k, String(props[k]));
      }
    }
    append(node, children);
    return node;
  }
  function append(node, children) {
    if (children == null) return node;
    if (!Array.isArray(children)) children = [children];
    children.forEach(function (c) {
      if (c == null || c === false) return;
      node.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    });
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function s(tag, attrs, children) {
    var node = document.createElementNS(SVGNS, tag);
    if (attrs) for (var k in attrs) {
      if (attrs[k] == null) continue;
      if (k === 'text') node.textContent = String(attrs[k]);
      else node.setAttribute(k, String(attrs[k]));
    }
    if (children) children.forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  // ---------- formatting ----------
  function pad(n) { return n < 10 ? '0' + n : String(n); }
  function fmtTime(iso) {
    if (!iso) return '—';
    var d = new Date(iso);
    if (isNaN(d)) return String(iso);
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' + pad(d.getHours()) + ':' + pad(d.getMinutes());
  }
  function fmtClock(iso) {
    var d = new Date(iso);
    return isNaN(d) ? String(iso || '') : pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }
  function fmtMs(ms) {
    var n = Number(ms);
    if (!isFinite(n) || n <= 0) return String(ms);
    return fmtTime(new Date(n).toISOString());
  }
  function fmtDuration(a, b) {
    var t = (new Date(b) - new Date(a)) / 1000;
    if (!isFinite(t) || t < 0) return '';
    if (t < 60) return Math.round(t) + ' s';
    if (t < 3600) return Math.round(t / 60) + ' min';
    return (t / 3600).toFixed(1) + ' h';
  }
  function fmtNps(v) {
    if (v == null || !isFinite(v)) return '—';
    var r = Math.round(v);
    return (r > 0 ? '+' : '') + (r === 0 ? '0' : String(r));
  }
  function fmtPct(v) { return v == null || !isFinite(v) ? '—' : Math.round(v * 100) + '%'; }
  function npsClass(v) { return v == null ? '' : v >= 30 ? 'good' : v >= 0 ? 'warn' : 'bad'; }
  function npsColor(v) { return v >= 30 ? '#1f9d63' : v >= 0 ? '#e0a526' : '#d1443b'; }
  function ratingClass(r) { return r >= 9 ? 'r-promoter' : r >= 7 ? 'r-passive' : 'r-detractor'; }
  function ratingCategory(r) { return r >= 9 ? 'promoter' : r >= 7 ? 'passive' : 'detractor'; }
  function plural(n, one, many) { return n + ' ' + (n === 1 ? one : (many || one + 's')); }
  function label(map, key) { return Object.prototype.hasOwnProperty.call(map, key) ? map[key] : String(key); }

  function channelPill(ch) {
    return el('span', { className: 'pill ch-' + (CHANNELS[ch] ? ch : 'other') }, [el('span', { className: 'dot' }), label(CHANNELS, ch)]);
  }
  function outcomePill(o) {
    if (!o) return el('span', { className: 'pill', text: 'Open' });
    return el('span', { className: 'pill out-' + (OUTCOMES[o] ? o : 'other'), text: label(OUTCOMES, o) });
  }
  function ratingBadge(r) {
    if (r == null) return el('span', { className: 'muted', text: '—' });
    return el('span', { className: 'rating ' + ratingClass(r), title: ratingCategory(r), text: r });
  }
  function intentChips(list) {
    if (!list || !list.length) return el('span', { className: 'muted', text: '—' });
    return el('div', { className: 'chips' }, list.map(function (i) { return el('span', { className: 'chip', text: i }); }));
  }
  function customerLink(id) {
    return el('a', { href: '#/customer/' + encodeURIComponent(id), className: 'mono', text: id,
      on: { click: function (e) { e.stopPropagation(); } } });
  }
  function metaRow(dl, k, v) {
    dl.appendChild(el('dt', { text: k }));
    dl.appendChild(el('dd', null, v == null || v === '' ? el('span', { className: 'muted', text: '—' }) : v));
  }

  // ---------- API ----------
  function token() { return sessionStorage.getItem(TOKEN_KEY); }
  function query(params) {
    var parts = [];
    Object.keys(params || {}).forEach(function (k) {
      var v = params[k];
      if (v == null || v === '' || v === false) return;
      parts.push(encodeURIComponent(k) + '=' + encodeURIComponent(String(v)));
    });
    return parts.length ? '?' + parts.join('&') : '';
  }
  function AuthError(msg) { this.message = msg; this.auth = true; }
  function api(path, params) {
    return fetch(path + query(params), {
      headers: { 'Authorization': 'Bearer ' + (token() || ''), 'Accept': 'application/json' },
      cache: 'no-store'
    }).then(function (res) {
      return res.text().then(function (body) {
        var data = null;
        try { data = body ? JSON.parse(body) : null; } catch (e) { data = null; }
        if (res.status === 401) {
          var detail = data && data.error ? String(data.error) : '';
          signOut('Invalid token' + (/disabled/i.test(detail) ? ': ' + detail : '.'));
          throw new AuthError(detail);
        }
        if (!res.ok) throw new Error((data && data.error) ? String(data.error) : 'HTTP ' + res.status);
        return data;
      });
    });
  }
  function showBanner(msg) { var b = $('banner'); b.textContent = msg; b.hidden = !msg; }
  function fail(err) { if (!err || !err.auth) showBanner('Could not load: ' + (err && err.message ? err.message : String(err))); }

  // ---------- auth ----------
  function showSignIn(msg) {
    $('app').hidden = true;
    $('signin-view').hidden = false;
    var e = $('signin-error');
    e.textContent = msg || '';
    e.hidden = !msg;
    $('token').value = '';
    $('token').focus();
  }
  function signOut(msg) {
    sessionStorage.removeItem(TOKEN_KEY);
    generation++;
    showSignIn(msg);
  }
  $('signin-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var t = $('token').value.trim();
    if (!t) return;
    var btn = $('signin');
    btn.disabled = true;
    sessionStorage.setItem(TOKEN_KEY, t);
    api('/api/conversations', { limit: 1 }).then(function () {
      $('signin-error').hidden = true;
      enterApp();
    }, function (err) {
      if (!err.auth) showSignIn('Could not reach the server: ' + err.message);
    }).then(function () { btn.disabled = false; });
  });
  $('signout').addEventListener('click', function () { signOut(''); });

  function enterApp() {
    $('signin-view').hidden = true;
    $('app').hidden = false;
    listen();
    refreshCount();
    if (!location.hash || location.hash === '#' || location.hash === '#/') location.hash = '#/conversations';
    else route();
  }

  // ---------- routing ----------
  function show(view, nav) {
    document.querySelectorAll('[data-view]').forEach(function (v) { v.hidden = v.id !== 'view-' + view; });
    document.querySelectorAll('.nav button').forEach(function (b) { b.classList.toggle('active', b.getAttribute('data-route') === nav); });
    showBanner('');
    window.scrollTo(0, 0);
  }
  function route() {
    if (!token()) { showSignIn(''); return; }
    generation++;
    var h = location.hash.replace(/^#\/?/, '');
    var parts = h.split('/');
    var name = parts[0];
    var arg = '';
    try { arg = parts.length > 1 ? decodeURIComponent(parts.slice(1).join('/')) : ''; } catch (e) { arg = ''; }
    if (name === 'conversation' && arg) { show('transcript', 'conversations'); loadTranscript(arg); }
    else if (name === 'customer' && arg) { show('customer', 'conversations'); loadCustomer(arg); }
    else if (name === 'dashboard') { show('dashboard', 'dashboard'); loadDashboard(); }
    else if (name === 'queue') { show('queue', 'queue'); loadQueue(); }
    else { show('conversations', 'conversations'); loadConversations(false); }
  }
  window.addEventListener('hashchange', route);
  document.querySelectorAll('.nav button').forEach(function (b) {
    b.addEventListener('click', function () {
      var target = '#/' + b.getAttribute('data-route');
      if (location.hash === target) route(); else location.hash = target;
    });
  });

  // ---------- conversations ----------
  var convCursor = null;
  var convShown = 0;
  function convFilters() {
    var max = $('f-max-rating').value.trim();
    if (max !== '') max = String(Math.max(0, Math.min(10, Math.round(Number(max)))));
    return {
      channel: $('f-channel').value,
      since: $('f-since').value,
      until: $('f-until').value,
      intent: $('f-intent').value.trim(),
      customer: $('f-customer').value.trim(),
      max_rating: max === 'NaN' ? '' : max,
      irritant: $('f-irritant').checked ? 'true' : ''
    };
  }
  function conversationRow(c) {
    var open = function () { location.hash = '#/conversation/' + encodeURIComponent(c.id); };
    return el('tr', { className: 'clickable', tabindex: 0, 'data-testid': 'conversation-row', 'data-id': c.id,
      on: { click: open, keydown: function (e) { if (e.key === 'Enter') open(); } } }, [
      el('td', { className: 'nowrap', title: c.started_at, text: fmtTime(c.started_at) }),
      el('td', null, channelPill(c.channel)),
      el('td', null, customerLink(c.customer_id)),
      el('td', null, intentChips(c.intents)),
      el('td', null, outcomePill(c.outcome)),
      el('td', { className: 'num' }, ratingBadge(c.rating)),
      el('td', { className: 'num', text: c.turns }),
      el('td', { className: 'num' }, el('span', { className: 'irr ' + (c.irritants > 0 ? 'some' : 'none'), text: c.irritants }))
    ]);
  }
  function loadConversations(more) {
    var gen = generation;
    var body = $('conversations-body');
    var params = convFilters();
    params.limit = PAGE;
    if (more) params.cursor = convCursor;
    else {
      convShown = 0;
      clear(body).appendChild(el('tr', null, el('td', { colspan: 8, className: 'empty', text: 'Loading…' })));
    }
    $('load-more').disabled = true;
    return api('/api/conversations', params).then(function (page) {
      if (gen !== generation) return;
      if (!more) clear(body);
      (page.items || []).forEach(function (c) { body.appendChild(conversationRow(c)); });
      convShown += (page.items || []).length;
      convCursor = page.next_cursor || null;
      if (!convShown) body.appendChild(el('tr', null, el('td', { colspan: 8, className: 'empty', text: 'No conversation matches these filters.' })));
      $('load-more').hidden = !convCursor;
      $('load-more').disabled = false;
      $('conv-count').textContent = convShown ? 'Showing ' + plural(convShown, 'conversation') + (convCursor ? ' — more available' : '') : '';
    }).catch(function (err) {
      if (gen !== generation) return;
      if (!more) clear(body).appendChild(el('tr', null, el('td', { colspan: 8, className: 'empty', text: 'Could not load conversations.' })));
      $('load-more').disabled = false;
      fail(err);
    });
  }
  $('filters').addEventListener('submit', function (e) {
    e.preventDefault();
    if (location.hash !== '#/conversations') { location.hash = '#/conversations'; return; }
    generation++;
    showBanner('');
    loadConversations(false);
  });
  $('reset').addEventListener('click', function () {
    $('filters').reset();
    generation++;
    showBanner('');
    loadConversations(false);
  });
  $('load-more').addEventListener('click', function () { if (convCursor) loadConversations(true); });

  // ---------- transcript ----------
  function confSpan(v, prefix) {
    if (v == null || !isFinite(v)) return null;
    return el('span', { className: 'conf' + (v < 0.5 ? ' low' : ''), text: (prefix || '') + Math.round(v * 100) + '%' });
  }
  function turnView(t) {
    var who = t.speaker === 'bot' || t.speaker === 'staff' || t.speaker === 'system' ? t.speaker : 'customer';
    var names = { bot: 'Bot', customer: 'Customer', staff: t.author || 'Staff', system: (t.author ? t.author + ' · ' : '') + 'staff only' };
    var irritants = t.irritants || [];
    var tags = [];
    if (t.intent) tags.push(el('span', { className: 'chip', text: t.intent }));
    else if (who === 'customer') tags.push(el('span', { className: 'muted', text: 'no intent' }));
    if (who === 'customer') {
      var c = confSpan(t.confidence, 'confidence ');
      if (c) tags.push(c);
      var a = confSpan(t.asr_confidence, 'ASR ');
      if (a) tags.push(a);
    }
    irritants.forEach(function (k) {
      tags.push(el('span', { className: 'badge', 'data-testid': 'irritant', title: k, text: '⚠ ' + label(IRRITANTS, k) }));
    });
    return el('div', { className: 'turn ' + who + (irritants.length ? ' has-irritant' : ''), 'data-testid': 'turn' }, [
      el('div', { className: 'who', title: t.at }, names[who] + ' · ' + fmtClock(t.at)),
      el('div', { className: 'bubble', text: t.text == null ? '' : t.text }),
      tags.length ? el('div', { className: 'tags' }, tags) : null
    ]);
  }
  function loadTranscript(id) {
    var gen = generation;
    var box = clear($('transcript'));
    box.appendChild(el('div', { className: 'loading', text: 'Loading…' }));
    $('t-title').textContent = 'Conversation';
    $('t-sub').textContent = id;
    clear($('t-meta')); clear($('t-survey')); $('t-turns').textContent = '';
    api('/api/conversations/' + encodeURIComponent(id)).then(function (tp) {
      if (gen !== generation) return;
      clear(box);
      $('t-title').textContent = 'Conversation with ' + tp.customer_id;
      // the customer's name for the title; a conversation of an unknown customer keeps the id
      api('/api/customers/' + encodeURIComponent(tp.customer_id)).then(function (c) {
        if (gen === generation && c && c.name) $('t-title').textContent = 'Conversation with ' + c.name;
      }, function () {});
      $('t-sub').textContent = fmtTime(tp.started_at) + ' · ' + label(CHANNELS, tp.channel) + ' · ' + tp.id;
      var turns = tp.turns || [];
      $('t-turns').textContent = plural(turns.length, 'turn');
      if (!turns.length) box.appendChild(el('div', { className: 'loading', text: 'No turns recorded.' }));
      turns.forEach(function (t) { box.appendChild(turnView(t)); });
      showDesk(tp);

      var dl = $('t-meta');
      metaRow(dl, 'Customer', el('a', { href: '#/customer/' + encodeURIComponent(tp.customer_id), id: 'customer-link', className: 'mono', text: tp.customer_id }));
      metaRow(dl, 'Channel', channelPill(tp.channel));
      metaRow(dl, 'Outcome', outcomePill(tp.outcome));
      metaRow(dl, 'Started', el('span', { title: tp.started_at, text: fmtTime(tp.started_at) }));
      metaRow(dl, 'Ended', tp.ended_at ? el('span', { title: tp.ended_at, text: fmtTime(tp.ended_at) + (fmtDuration(tp.started_at, tp.ended_at) ? ' (' + fmtDuration(tp.started_at, tp.ended_at) + ')' : '') }) : null);
      metaRow(dl, 'Language', tp.lang ? el('span', { className: 'chip', text: tp.lang }) : null);
      metaRow(dl, 'Session', tp.session ? el('span', { className: 'mono', text: tp.session }) : null);
      metaRow(dl, 'Intents', intentChips(tp.intents));
      metaRow(dl, 'Irritants', el('span', { className: 'irr ' + (tp.irritants > 0 ? 'some' : 'none'), text: tp.irritants }));

      var sv = $('t-survey');
      var survey = tp.survey || {};
      var keys = Object.keys(survey);
      if (!keys.length) sv.appendChild(el('div', { className: 'muted', text: 'The customer did not answer the survey.' }));
      if ('solved' in survey) {
        var yes = /^(yes|true|oui)$/i.test(survey.solved), no = /^(no|false|non)$/i.test(survey.solved);
        sv.appendChild(el('div', { className: 'survey-row' }, [el('span', { text: 'Did that solve your problem?' }),
          el('span', { className: 'pill ' + (yes ? 'out-resolved' : no ? 'r-detractor' : ''), text: yes ? 'Yes' : no ? 'No' : survey.solved })]));
      }
      if ('rating' in survey) {
        var r = Number(survey.rating);
        sv.appendChild(el('div', { className: 'survey-row' }, [el('span', { text: 'Likely to recommend (0–10)' }),
          isFinite(r) && survey.rating !== '' ? el('span', null, [el('span', { className: 'muted', text: ratingCategory(r) + ' ' }), ratingBadge(r)]) : el('span', { text: survey.rating })]));
      }
      keys.filter(function (k) { return k !== 'solved' && k !== 'rating' && k !== 'comment'; }).forEach(function (k) {
        sv.appendChild(el('div', { className: 'survey-row' }, [el('span', { text: k }), el('span', { text: survey[k] })]));
      });
      if ('comment' in survey && survey.comment) {
        sv.appendChild(el('div', { className: 'muted', style: 'margin-top:8px;font-size:12px', text: 'What should we improve?' }));
        sv.appendChild(el('div', { className: 'comment', text: survey.comment }));
      }
    }).catch(function (err) {
      if (gen !== generation) return;
      clear(box).appendChild(el('div', { className: 'loading', text: 'Could not load this conversation.' }));
      fail(err);
    });
  }


  // ---------- queue and the person's side ----------
  var current = null; // the transcript on screen
  function post(path, body) {
    return fetch(path, {
      method: 'POST',
      headers: { 'Authorization': 'Bearer ' + (token() || ''), 'Content-Type': 'application/json', 'Accept': 'application/json' },
      body: JSON.stringify(body || {}), cache: 'no-store'
    }).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (res.status === 401) { signOut('Invalid token.'); throw new AuthError(''); }
        if (!res.ok) throw new Error((data && data.error) ? String(data.error) : 'HTTP ' + res.status);
        return data;
      });
    });
  }
  function ownerText(o) {
    if (!o || o.kind === 'bot') return 'the bot';
    if (o.kind === 'staff') return o.name;
    return 'waiting' + (o.callback ? ' · call back' : '') + (o.ticket ? ' · ticket' : '');
  }
  function fmtWait(sec) {
    if (sec < 60) return sec + ' s';
    if (sec < 3600) return Math.floor(sec / 60) + ' min';
    return Math.floor(sec / 3600) + ' h ' + pad(Math.floor(sec % 3600 / 60));
  }
  function setCount(items) {
    var waiting = items.filter(function (q) { return q.owner && q.owner.kind === 'waiting'; }).length;
    var c = $('queue-count');
    c.textContent = String(waiting);
    c.classList.toggle('zero', waiting === 0);
  }
  function refreshCount() { api('/api/queue').then(function (q) { setCount(q.items || []); }, function () {}); }
  function loadQueue() {
    var gen = generation;
    api('/api/queue').then(function (q) {
      if (gen !== generation) return;
      var items = q.items || [];
      setCount(items);
      var body = clear($('queue-list'));
      $('queue-empty').hidden = items.length > 0;
      items.forEach(function (item) {
        var open = function () { location.hash = '#/conversation/' + encodeURIComponent(item.id); };
        var claim = el('button', { className: 'btn', type: 'button', text: 'Take it', 'data-testid': 'queue-claim',
          on: { click: function (e) {
            e.stopPropagation();
            post('/api/conversations/' + encodeURIComponent(item.id) + '/claim', {}).then(open, fail);
          } } });
        body.appendChild(el('tr', { className: 'row', 'data-testid': 'queue-row', tabIndex: 0,
          on: { click: open, keydown: function (e) { if (e.key === 'Enter') open(); } } }, [
          el('td', { text: fmtWait(item.waiting_seconds) + (item.position ? ' · #' + item.position : '') }),
          el('td', null, [channelPill(item.channel)]),
          el('td', null, [el('span', { className: 'chip', text: item.lang })]),
          el('td', { text: ownerText(item.owner) }),
          el('td', null, (item.summary || []).map(function (line) { return el('div', { text: line }); })),
          el('td', null, [item.owner && item.owner.kind === 'waiting' ? claim : null])
        ]));
      });
    }, fail);
  }
  function deskError(err) {
    var e = $('desk-error');
    e.textContent = err ? (err.message || String(err)) : '';
    e.hidden = !err;
  }
  function showDesk(tp) {
    current = tp;
    var owner = tp.owner || { kind: 'bot' };
    var open = !tp.ended_at;
    $('desk').hidden = !(open && owner.kind !== 'bot');
    $('to-person').hidden = !(open && owner.kind === 'bot');
    $('desk-owner').textContent = ownerText(owner);
    $('claim').hidden = owner.kind !== 'waiting';
    deskError(null);
    var sum = clear($('desk-summary'));
    api('/api/queue').then(function (q) {
      var item = (q.items || []).filter(function (i) { return i.id === tp.id; })[0];
      (item ? item.summary : []).forEach(function (line) { sum.appendChild(el('li', { text: line })); });
    }, function () {});
    api('/api/staff').then(function (r) {
      var sel = clear($('transfer-to'));
      (r.staff || []).forEach(function (n) { sel.appendChild(el('option', { value: n, text: n })); });
    }, function () {});
  }
  function act(path, body) {
    if (!current) return;
    var id = current.id;
    deskError(null);
    return post('/api/conversations/' + encodeURIComponent(id) + path, body).then(function () {
      if (current && current.id === id) loadTranscript(id);
    }, deskError);
  }
  $('claim').addEventListener('click', function () { act('/claim', {}); });
  $('handoff').addEventListener('click', function () { act('/handoff', { reason: 'taken over from the console' }); });
  $('reply-send').addEventListener('click', function () {
    var t = $('reply-text').value;
    if (!t.trim()) return;
    act('/messages', { text: t }).then(function () { $('reply-text').value = ''; });
  });
  $('note-send').addEventListener('click', function () {
    var t = $('reply-text').value;
    if (!t.trim()) return;
    act('/messages', { text: t, private: true }).then(function () { $('reply-text').value = ''; });
  });
  var lastTyping = 0;
  $('reply-text').addEventListener('input', function () {
    var now = Date.now();
    if (current && now - lastTyping > 4000) { lastTyping = now; post('/api/conversations/' + encodeURIComponent(current.id) + '/typing', {}).catch(function () {}); }
  });
  $('transfer').addEventListener('click', function () { act('/transfer', { to: $('transfer-to').value }); });
  $('release').addEventListener('click', function () { act('/release', { note: $('release-note').value }).then(function () { $('release-note').value = ''; }); });
  $('close').addEventListener('click', function () { act('/close', {}); });

  // Server-sent events through fetch (EventSource cannot send the token), reconnecting after a drop.
  var listening = false;
  function listen() {
    if (listening || !token() || !window.ReadableStream) return;
    listening = true;
    fetch('/api/events', { headers: { 'Authorization': 'Bearer ' + token(), 'Accept': 'text/event-stream' }, cache: 'no-store' })
      .then(function (res) {
        if (!res.ok || !res.body) throw new Error('HTTP ' + res.status);
        $('live').textContent = 'live'; $('live').className = 'live on';
        var reader = res.body.getReader(), decoder = new TextDecoder(), buf = '';
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) throw new Error('closed');
            buf += decoder.decode(chunk.value, { stream: true });
            var at;
            while ((at = buf.indexOf('\n\n')) >= 0) {
              var block = buf.slice(0, at); buf = buf.slice(at + 2);
              var data = block.split('\n').filter(function (l) { return l.indexOf('data:') === 0; })
                .map(function (l) { return l.slice(5).trim(); }).join('\n');
              if (data) onEvent(data);
            }
            return pump();
          });
        }
        return pump();
      })
      .catch(function () {})
      .then(function () {
        listening = false;
        $('live').textContent = 'offline'; $('live').className = 'live off';
        if (token()) setTimeout(listen, 3000);
      });
  }
  function onEvent(data) {
    var e = null;
    try { e = JSON.parse(data); } catch (x) { return; }
    if (!$('view-queue').hidden) loadQueue(); else refreshCount();
    if (current && e.conversation === current.id && !$('view-transcript').hidden) loadTranscript(current.id);
  }

  // ---------- customer ----------
  function initials(name) {
    var p = String(name || '?').trim().split(/\s+/);
    return ((p[0] || '?').charAt(0) + (p.length > 1 ? p[p.length - 1].charAt(0) : '')).toUpperCase();
  }
  function loadCustomer(id) {
    var gen = generation;
    ['c-profile', 'c-identities', 'c-attributes', 'c-timeline', 'c-path'].forEach(function (x) { clear($(x)); });
    clear($('c-orders').tBodies[0]);
    $('c-name').textContent = 'Customer';
    $('c-id').textContent = id;
    $('c-avatar').textContent = '';
    $('c-timeline').appendChild(el('li', { className: 'loading', text: 'Loading…' }));
    var enc = encodeURIComponent(id);
    Promise.all([api('/api/customers/' + enc), api('/api/customers/' + enc + '/journey')]).then(function (res) {
      if (gen !== generation) return;
      var c = res[0], j = res[1];
      $('c-name').textContent = c.name || c.id;
      $('c-id').textContent = c.id;
      $('c-avatar').textContent = initials(c.name || c.id);

      var dl = $('c-profile');
      metaRow(dl, 'Email', c.email ? el('span', { text: c.email }) : null);
      metaRow(dl, 'Phone', c.phone ? el('span', { className: 'mono', text: c.phone }) : null);
      metaRow(dl, 'Loyalty points', c.loyalty_points != null ? el('strong', { text: Number(c.loyalty_points).toLocaleString('en-US') }) : null);
      metaRow(dl, 'Customer since', c.created_at != null ? el('span', { text: fmtMs(c.created_at) }) : null);
      metaRow(dl, 'Conversations', el('span', { text: String((c.touchpoints || []).length) }));

      var idBox = $('c-identities');
      var ids = c.identities || {};
      var chans = Object.keys(ids);
      if (!chans.length) idBox.appendChild(el('div', { className: 'muted', text: 'No linked identity.' }));
      chans.forEach(function (ch) {
        idBox.appendChild(el('div', { className: 'ident-row', 'data-testid': 'identity' }, [channelPill(ch),
          el('div', { className: 'chips' }, (ids[ch] || []).map(function (v) { return el('span', { className: 'chip', text: v }); }))]));
      });

      var attrBox = $('c-attributes');
      var attrs = c.attributes || {};
      var akeys = Object.keys(attrs);
      if (!akeys.length) attrBox.appendChild(el('div', { className: 'muted', text: 'No attributes.' }));
      else {
        var adl = el('dl', { className: 'meta' });
        akeys.forEach(function (k) {
          var v = attrs[k];
          var text = typeof v === 'string' ? v : JSON.stringify(v);
          if (/_at$/.test(k) && /^\d{12,14}$/.test(text)) text = fmtMs(text);
          metaRow(adl, k, el('span', { text: text }));
        });
        attrBox.appendChild(adl);
      }

      var ob = $('c-orders').tBodies[0];
      var orders = c.orders || [];
      if (!orders.length) ob.appendChild(el('tr', null, el('td', { colspan: 3, className: 'empty', text: 'No orders.' })));
      orders.forEach(function (o) {
        ob.appendChild(el('tr', null, [el('td', { className: 'mono', text: o.id }),
          el('td', null, el('span', { className: 'pill', text: String(o.status || '—').replace(/_/g, ' ') })),
          el('td', { className: 'nowrap', text: o.eta || '—' })]));
      });

      var path = $('c-path');
      (j.channels || []).forEach(function (ch, i) {
        if (i) path.appendChild(el('span', { className: 'arrow', text: '→' }));
        path.appendChild(channelPill(ch));
      });

      var tl = clear($('c-timeline'));
      var items = (j.timeline || []).slice().reverse(); // newest first
      if (!items.length) tl.appendChild(el('li', { className: 'muted', text: 'No conversation yet.' }));
      items.forEach(function (t) {
        tl.appendChild(el('li', { 'data-testid': 'touchpoint' }, [
          el('span', { className: 'tdot', style: 'background:' + (CHANNEL_COLORS[t.channel] || '#8391a7') }),
          el('a', { className: 'tcard', href: '#/conversation/' + encodeURIComponent(t.id) }, [
            el('div', { className: 'trow' }, [el('span', { className: 'when', text: fmtTime(t.started_at) }), channelPill(t.channel), outcomePill(t.outcome),
              t.rating != null ? ratingBadge(t.rating) : null,
              t.irritants > 0 ? el('span', { className: 'badge', text: '⚠ ' + plural(t.irritants, 'irritant') }) : null]),
            el('div', { className: 'trow', style: 'margin-top:6px' }, [intentChips(t.intents), el('span', { className: 'muted', text: plural(t.turns, 'turn') })])
          ])
        ]));
      });
    }).catch(function (err) {
      if (gen !== generation) return;
      clear($('c-timeline')).appendChild(el('li', { className: 'muted', text: 'Could not load this customer.' }));
      fail(err);
    });
  }

  // ---------- dashboard ----------
  function lineChart(svg, periods) {
    clear(svg);
    var W = 1000, H = 230, L = 48, R = 24, T = 20, B = 34;
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    var keys = Object.keys(periods || {}).sort();
    var ih = H - T - B, iw = W - L - R;
    var y = function (v) { return T + (100 - v) / 200 * ih; };
    [-100, -50, 0, 50, 100].forEach(function (v) {
      svg.appendChild(s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), 'class': v === 0 ? 'zero' : 'grid' }));
      svg.appendChild(s('text', { x: L - 8, y: y(v) + 4, 'text-anchor': 'end', text: v > 0 ? '+' + v : v }));
    });
    var pts = keys.map(function (k, i) {
      var n = periods[k] && periods[k].nps;
      return { k: k, v: n, d: periods[k] || {}, x: keys.length === 1 ? L + iw / 2 : L + 20 + i * (iw - 40) / (keys.length - 1) };
    });
    var withData = pts.filter(function (p) { return p.v != null && isFinite(p.v); });
    if (!withData.length) {
      svg.appendChild(s('text', { x: L + iw / 2, y: T + ih / 2 - 10, 'text-anchor': 'middle', 'class': 'empty', text: 'No survey responses in this range' }));
      return;
    }
    // segments break where a period has no response
    var seg = [], segs = [];
    pts.forEach(function (p) { if (p.v == null) { if (seg.length) segs.push(seg); seg = []; } else seg.push(p); });
    if (seg.length) segs.push(seg);
    segs.forEach(function (sg) {
      if (sg.length < 2) return;
      var d = sg.map(function (p, i) { return (i ? 'L' : 'M') + p.x.toFixed(1) + ' ' + y(p.v).toFixed(1); }).join(' ');
      svg.appendChild(s('path', { 'class': 'area', d: d + ' L' + sg[sg.length - 1].x.toFixed(1) + ' ' + y(0) + ' L' + sg[0].x.toFixed(1) + ' ' + y(0) + ' Z' }));
      svg.appendChild(s('path', { 'class': 'line', d: d }));
    });
    var step = Math.max(1, Math.ceil(pts.length / 12));
    pts.forEach(function (p, i) {
      if (i % step === 0 || i === pts.length - 1) svg.appendChild(s('text', { x: p.x, y: H - 12, 'text-anchor': 'middle', text: p.k }));
      if (p.v == null) return;
      var tip = p.k + ': NPS ' + fmtNps(p.v) + ' (' + plural(p.d.responses || 0, 'response') + ')';
      svg.appendChild(s('circle', { 'class': 'pt', cx: p.x, cy: y(p.v), r: 5, 'data-period': p.k }, [s('title', { text: tip })]));
      if (pts.length <= 16) svg.appendChild(s('text', { 'class': 'val', x: p.x, y: y(p.v) - 11, 'text-anchor': 'middle', text: fmtNps(p.v) }));
    });
  }
  function barChart(svg, groups, names, max) {
    clear(svg);
    var keys = Object.keys(groups || {});
    keys.sort(function (a, b) { return (groups[b].responses || 0) - (groups[a].responses || 0) || (groups[b].conversations || 0) - (groups[a].conversations || 0) || (a < b ? -1 : 1); });
    if (max) keys = keys.slice(0, max);
    var W = 500, L = 124, R = 84, row = 30, T = 8, B = 26;
    var H = T + B + Math.max(1, keys.length) * row;
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    var iw = W - L - R;
    var x = function (v) { return L + (v + 100) / 200 * iw; };
    [-100, 0, 100].forEach(function (v) {
      svg.appendChild(s('line', { x1: x(v), x2: x(v), y1: T, y2: H - B, 'class': v === 0 ? 'zero' : 'grid' }));
      svg.appendChild(s('text', { x: x(v), y: H - 8, 'text-anchor': 'middle', text: v > 0 ? '+' + v : v }));
    });
    if (!keys.length) {
      svg.appendChild(s('text', { x: W / 2, y: T + row / 2 + 4, 'text-anchor': 'middle', 'class': 'empty', text: 'No data' }));
      return;
    }
    keys.forEach(function (k, i) {
      var g = groups[k] || {};
      var cy = T + i * row + row / 2;
      var name = names ? label(names, k) : k;
      if (name.length > 18) name = name.slice(0, 17) + '…';
      svg.appendChild(s('text', { 'class': 'lbl', x: L - 10, y: cy + 4, 'text-anchor': 'end', text: name }, [s('title', { text: k })]));
      var n = g.nps;
      if (n == null || !isFinite(n)) {
        svg.appendChild(s('text', { x: x(0) + 6, y: cy + 4, text: 'no responses' }));
        return;
      }
      var x0 = x(Math.min(0, n)), x1 = x(Math.max(0, n));
      svg.appendChild(s('rect', { x: x0, y: cy - 9, width: Math.max(2, x1 - x0), height: 18, rx: 3, fill: npsColor(n) },
        [s('title', { text: k + ': NPS ' + fmtNps(n) + ', ' + plural(g.responses || 0, 'response') })]));
      svg.appendChild(s('text', { 'class': 'val', x: W - R + 8, y: cy + 4, text: fmtNps(n) }));
      svg.appendChild(s('text', { x: W - R + 38, y: cy + 4, text: 'n=' + (g.responses || 0) }));
    });
  }
  function loadDashboard() {
    var gen = generation;
    var params = {
      since: $('d-since').value, until: $('d-until').value, channel: $('d-channel').value,
      intent: $('d-intent').value.trim(), period: $('d-period').value
    };
    $('nps-chart-hint').textContent = 'per ' + params.period;
    api('/api/reports/satisfaction', params).then(function (r) {
      if (gen !== generation) return;
      var nps = $('kpi-nps');
      nps.textContent = fmtNps(r.nps);
      nps.className = 'value ' + npsClass(r.nps);
      var bar = clear($('kpi-nps-bar'));
      var tot = (r.promoters || 0) + (r.passives || 0) + (r.detractors || 0);
      if (tot) [[r.promoters, '#1f9d63'], [r.passives, '#e0a526'], [r.detractors, '#d1443b']].forEach(function (p) {
        bar.appendChild(el('span', { style: 'width:' + (100 * (p[0] || 0) / tot) + '%;background:' + p[1] }));
      });
      $('kpi-nps-detail').textContent = plural(r.promoters || 0, 'promoter') + ' · ' + plural(r.passives || 0, 'passive') + ' · ' + plural(r.detractors || 0, 'detractor');
      $('kpi-responses').textContent = String(r.responses || 0);
      $('kpi-responses-detail').textContent = 'from ' + plural(r.conversations || 0, 'conversation') + (r.conversations ? ' (' + Math.round(100 * (r.responses || 0) / r.conversations) + '% answered)' : '');
      var res = $('kpi-resolution');
      res.textContent = fmtPct(r.resolution_rate);
      res.className = 'value ' + (r.resolution_rate == null ? '' : r.resolution_rate >= 0.8 ? 'good' : r.resolution_rate >= 0.5 ? 'warn' : 'bad');
      $('kpi-resolution-detail').textContent = (r.resolved || 0) + ' resolved · customers said solved: ' + (r.solved_yes || 0) + ' yes, ' + (r.solved_no || 0) + ' no';
      var irr = $('kpi-irritants');
      irr.textContent = String(r.irritants || 0);
      irr.className = 'value ' + (r.irritants ? 'bad' : '');
      $('kpi-irritants-detail').textContent = r.conversations ? (r.irritants / r.conversations).toFixed(2) + ' per conversation' : '';

      lineChart($('nps-chart'), r.by_period);
      barChart($('nps-by-channel'), r.by_channel, CHANNELS);
      barChart($('nps-by-intent'), r.by_intent, null, 8);

      var mb = clear($('moments').tBodies[0]);
      var moments = r.moments_of_truth || [];
      if (!moments.length) mb.appendChild(el('tr', null, el('td', { colspan: 6, className: 'empty', text: 'No moment of truth in this range.' })));
      moments.forEach(function (m) {
        mb.appendChild(el('tr', null, [
          el('td', null, el('span', { className: 'chip', text: m.intent })),
          el('td', { className: 'num', text: m.conversations || 0 }),
          el('td', { className: 'num', text: m.responses || 0 }),
          el('td', { className: 'num' }, el('strong', { style: m.nps != null ? 'color:' + npsColor(m.nps) : null, text: fmtNps(m.nps) })),
          el('td', { className: 'num', text: fmtPct(m.resolution_rate) }),
          el('td', { className: 'num' }, el('span', { className: 'irr ' + (m.irritants > 0 ? 'some' : 'none'), text: m.irritants || 0 }))
        ]));
      });

      var ib = clear($('irritants').tBodies[0]);
      var kinds = r.irritants_by_kind || {};
      var kk = Object.keys(kinds).sort(function (a, b) { return kinds[b] - kinds[a]; });
      var ktot = kk.reduce(function (a, k) { return a + (kinds[k] || 0); }, 0);
      if (!kk.length) ib.appendChild(el('tr', null, el('td', { colspan: 3, className: 'empty', text: 'No irritant detected in this range.' })));
      kk.forEach(function (k) {
        var share = ktot ? kinds[k] / ktot : 0;
        ib.appendChild(el('tr', null, [
          el('td', null, el('span', { className: 'badge', text: '⚠ ' + label(IRRITANTS, k) })),
          el('td', { className: 'num', text: kinds[k] }),
          el('td', { style: 'width:40%' }, el('div', { className: 'npsbar', style: 'margin:0' }, el('span', { style: 'width:' + Math.round(share * 100) + '%;background:#d1443b' })))
        ]));
      });
    }).catch(function (err) {
      if (gen !== generation) return;
      fail(err);
    });
  }
  $('d-filters').addEventListener('submit', function (e) {
    e.preventDefault();
    generation++;
    showBanner('');
    loadDashboard();
  });

  // ---------- start ----------
  if (token()) enterApp(); else showSignIn('');
})();
