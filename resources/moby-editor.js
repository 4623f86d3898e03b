/* Editor helpers shared by every MOBY node's edit dialog. Node-RED serves this file at
 * resources/@moby-iot/node-red-moby/moby-editor.js and loads it before the node definitions that reference
 * it (a relative <script src> in each node .html), so each .html can rely on window.MOBY_EDITOR. */
(function () {
  'use strict';
  if (window.MOBY_EDITOR) return;

  // A whole value like ${MOBY_TRAIN_POINTS}: Node-RED substitutes it from the flow's or the process's
  // environment when the flow starts, so the editor cannot know the number and must not flag it.
  var ENV_REFERENCE = /^\s*\$\{[A-Za-z_][A-Za-z0-9_]*\}\s*$/;
  function isEnvReference(v) {
    return typeof v === 'string' && ENV_REFERENCE.test(v);
  }

  function invalid(opt, key) {
    if (opt && opt.label) return RED._('validator.errors.' + key + '-prop', { prop: opt.label });
    return RED._('validator.errors.' + key);
  }

  /**
   * Number validator that also accepts an ${ENV} reference.
   * o.blank: an empty value is valid (the node uses its default); o.min / o.max bounds; o.integer.
   */
  function number(o) {
    o = o || {};
    return function (v, opt) {
      if (v === '' || v === undefined || v === null) return o.blank ? true : invalid(opt, 'invalid-num');
      if (isEnvReference(v)) return true;
      var n = Number(v);
      if (typeof v === 'boolean' || !isFinite(n)) return invalid(opt, 'invalid-num');
      if (o.integer && Math.floor(n) !== n) return invalid(opt, 'invalid-num');
      if (o.min !== undefined && n < o.min) return invalid(opt, 'invalid-num');
      if (o.max !== undefined && n > o.max) return invalid(opt, 'invalid-num');
      return true;
    };
  }

  // ---- topic patterns: the browser twin of nodes/core/topic.ts (the editor cannot load the TypeScript
  // core). test/unit/resources/topic-editor.test.ts runs both over the same table, so they cannot drift apart.
  var CAPTURE_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
  var FORBIDDEN_NAMES = { __proto__: 1, constructor: 1, prototype: 1 };
  function isForbidden(name) {
    return name === '__proto__' || Object.prototype.hasOwnProperty.call(FORBIDDEN_NAMES, name);
  }

  /**
   * Why `source` is not a topic pattern, as {code, params} (core: topicPatternProblem; the texts are in the
   * moby-mqtt message catalogue, topicPattern.errors.<code>), or {names: [...]} when it is one.
   */
  function parseTopicPattern(source) {
    var pattern = source.length > 80 ? source.slice(0, 80) + '…' : source;
    if (source.trim() === '') return { code: 'empty', params: {} };
    if (source.length > 1024)
      return { code: 'too-long', params: { pattern: pattern, length: source.length, limit: 1024 } };
    if (source.indexOf('\u0000') >= 0) return { code: 'nul', params: { pattern: pattern } };
    var levels = source.split('/');
    if (levels[levels.length - 1] === '#') levels.pop();
    var names = [];
    for (var i = 0; i < levels.length; i++) {
      var level = levels[i];
      var at = function (code, name) {
        var params = { pattern: pattern, level: i + 1, text: level };
        if (name !== undefined) params.name = name;
        return { code: code, params: params };
      };
      if (level === '#' || (level.indexOf('#') >= 0 && level.charAt(0) !== '+'))
        return at(level === '#' ? 'hash-not-last' : 'partial-wildcard');
      if (level === '{device_id}') return at('old-device-syntax');
      if (level.charAt(0) === '+') {
        var name = level.slice(1);
        if (name === '') continue;
        if (!CAPTURE_NAME.test(name)) return at('bad-name');
        if (isForbidden(name)) return at('forbidden-name', name);
        if (names.indexOf(name) >= 0) return at('duplicate-name', name);
        names.push(name);
      } else if (level.indexOf('+') >= 0 || level.indexOf('{') >= 0 || level.indexOf('}') >= 0) {
        return at('partial-wildcard');
      }
    }
    return { names: names };
  }

  // the catalogue holding the topic-pattern texts (every set of this package is loaded with the package)
  var TOPIC_TEXTS = '@moby-iot/node-red-moby/moby-mqtt:topicPattern.errors.';

  /** A topic-pattern problem in the editor's language (English where the catalogue has no translation). */
  function topicProblemText(problem) {
    var key = TOPIC_TEXTS + problem.code;
    var text = RED._(key, problem.params);
    // the catalogue is missing only if the moby-mqtt set was disabled: still say what is wrong
    return typeof text === 'string' && text !== key ? text : 'topic pattern: ' + problem.code;
  }

  /** The verify node's old (pattern, "device is +N") as one pattern (core: migrateDeviceLevel). */
  function migrateDeviceLevel(pattern, level) {
    var levels = pattern.split('/');
    if (pattern === '' || levels.indexOf('+device_id') >= 0) return pattern;
    var wanted = level === undefined || level === '' || level === null ? 1 : Number(level);
    var seen = 0;
    for (var i = 0; i < levels.length; i++) {
      if (levels[i].charAt(0) === '+' && levels[i] !== '+tenant' && ++seen === wanted) {
        levels[i] = '+device_id';
        return levels.join('/');
      }
    }
    return pattern;
  }

  /** One old device-health pattern ({device_id}, else the last +) in the shared syntax (core: migrateHealthPattern). */
  function migrateHealthPattern(pattern) {
    var levels = pattern.split('/');
    if (levels.indexOf('{device_id}') >= 0) {
      return levels
        .map(function (l) {
          return l === '{device_id}' ? '+device_id' : l;
        })
        .join('/');
    }
    if (
      levels.some(function (l) {
        return l.length > 1 && l.charAt(0) === '+' && l !== '+tenant';
      })
    )
      return pattern;
    var last = levels.lastIndexOf('+');
    if (last < 0) return pattern;
    levels[last] = '+device_id';
    return levels.join('/');
  }

  /** A comma- or newline-separated list of old health patterns, separators kept (core: migrateHealthPatterns). */
  function migrateHealthPatterns(text) {
    return text
      .split(/([,\n])/)
      .map(function (part, i) {
        if (i % 2 === 1) return part;
        var lead = /^\s*/.exec(part)[0];
        var trail = /\s*$/.exec(part.slice(lead.length))[0];
        var core = part.slice(lead.length, part.length - trail.length);
        return core ? lead + migrateHealthPattern(core) + trail : part;
      })
      .join('');
  }

  /**
   * Validator for a topic-pattern field. o.blank: empty is valid; o.list: comma/newline-separated patterns;
   * o.require: a capture name every pattern must have (e.g. 'device_id'); o.levelProperty: the node property
   * holding the old "device is +N" (a flow saved before the shared syntax stays valid until its dialog is
   * opened and migrates it); o.health: old device-health patterns are migrated before checking.
   */
  function topicPattern(o) {
    o = o || {};
    return function (v) {
      if (v === undefined || v === null || String(v).trim() === '')
        return o.blank ? true : topicProblemText({ code: 'empty', params: {} });
      if (isEnvReference(v)) return true;
      var parts = o.list ? String(v).split(/[,\n]/) : [String(v)];
      for (var i = 0; i < parts.length; i++) {
        var part = o.list ? parts[i].trim() : parts[i];
        if (!part) continue;
        if (o.health) part = migrateHealthPattern(part);
        if (o.levelProperty) part = migrateDeviceLevel(part, this ? this[o.levelProperty] : undefined);
        var p = parseTopicPattern(part);
        if (p.code) return topicProblemText(p);
        if (o.require && p.names.indexOf(o.require) < 0)
          return topicProblemText({ code: 'missing-name', params: { pattern: part, name: o.require } });
      }
      return true;
    };
  }

  /**
   * Turns a <ul id="…"> and sibling <div id="…-tab-<name>"> panes into Node-RED tabs, like the core MQTT
   * broker dialog, so long dialogs read in sections. Labels come from the node's message catalogue.
   */
  function tabs(node, id, names) {
    var t = RED.tabs.create({
      id: id,
      onchange: function (tab) {
        $('#' + id + '-content')
          .children()
          .hide();
        $('#' + tab.id).show();
        if (RED.tray && RED.tray.resize) RED.tray.resize();
      },
    });
    names.forEach(function (name) {
      t.addTab({ id: id + '-' + name, label: node._(node.type + '.tabs.' + name) });
    });
    return t;
  }

  // Layout like the core dialogs (mqtt in, http request): icon and label on one row, inputs to the right
  // edge, unit text after short number fields that are still wide enough for an ${ENV} reference.
  var css =
    '.moby-form .form-row > label { width: 140px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; vertical-align: middle; }' +
    '.moby-form .form-row > input[type=text], .moby-form .form-row > input[type=password], .moby-form .form-row > select,' +
    ' .moby-form .form-row > textarea, .moby-form .form-row > .red-ui-typedInput-container { width: calc(100% - 150px); }' +
    '.moby-form .form-row > input.moby-num, .moby-form .form-row input.moby-num { width: 200px; }' +
    '.moby-form .form-row > input, .moby-form .form-row > select { vertical-align: middle; }' +
    '.moby-form .form-row > .moby-unit { margin-left: 6px; }' +
    '.moby-form .form-row > input[type=checkbox] { width: auto; margin: 0 6px 0 0; vertical-align: middle; }' +
    '.moby-form .form-row.moby-indent { padding-left: 145px; }' +
    '.moby-form .form-row.moby-indent > input[type=checkbox] { margin-left: 0; }' +
    '.moby-form .form-tips { margin-bottom: 12px; }' +
    '.moby-form h4 { margin: 14px 0 8px; border-bottom: 1px solid var(--red-ui-secondary-border-color, #ddd); padding-bottom: 4px; }' +
    '.moby-form .moby-tab-content { min-height: 150px; }';
  var style = document.createElement('style');
  style.setAttribute('data-moby-editor', '1');
  style.textContent = css;
  document.head.appendChild(style);

  window.MOBY_EDITOR = {
    isEnvReference: isEnvReference,
    number: number,
    tabs: tabs,
    parseTopicPattern: parseTopicPattern,
    migrateDeviceLevel: migrateDeviceLevel,
    migrateHealthPattern: migrateHealthPattern,
    migrateHealthPatterns: migrateHealthPatterns,
    topicPattern: topicPattern,
    topicProblemText: topicProblemText,
  };
})();
