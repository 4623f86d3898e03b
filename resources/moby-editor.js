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

  /**
   * Turns a <ul id="…"> and sibling <div id="…-tab-<name>"> panes into Node-RED tabs, like the core MQTT
   * broker dialog, so long dialogs read in sections. Labels come from the node's message catalogue.
   */
  function tabs(node, id, names) {
    var t = RED.tabs.create({
      id: id,
      onchange: function (tab) {
        $('#' + id + '-content').children().hide();
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

  window.MOBY_EDITOR = { isEnvReference: isEnvReference, number: number, tabs: tabs };
})();
