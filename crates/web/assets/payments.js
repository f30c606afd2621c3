// Checkout and the sandbox's card page: small conveniences on top of pages that work without
// script. A chosen test card fills the card number; the summary follows the period, amount
// and payment method chosen.
(function () {
  'use strict';
  var card = document.getElementById('card');
  document.querySelectorAll('input[name="test_card"]').forEach(function (r) {
    r.addEventListener('change', function () {
      if (card && r.checked) card.value = r.dataset.card || r.value;
    });
  });

  var total = document.getElementById('pay-total');
  if (!total) return;
  var form = document.getElementById('checkout');
  var buttonAmount = document.querySelector('.pay-button-amount');
  function show(text) {
    total.textContent = text;
    if (buttonAmount) buttonAmount.textContent = text;
  }
  document.querySelectorAll('input[name="period_days"]').forEach(function (r) {
    r.addEventListener('change', function () {
      if (!r.checked) return;
      // A promo code's price depends on the period: ask the server again.
      if (total.dataset.promo && form) {
        var apply = form.querySelector('button[name="apply"]');
        if (apply) { apply.click(); return; }
      }
      show(r.dataset.total);
    });
  });
  var descriptor = document.getElementById('pay-descriptor');
  document.querySelectorAll('input[name="processor"]').forEach(function (r) {
    r.addEventListener('change', function () {
      if (r.checked && descriptor) descriptor.textContent = r.dataset.descriptor || '';
    });
  });
  var amount = document.getElementById('amount');
  function fromAmount() {
    var m = /^\s*(\d+)(?:\.(\d{1,2}))?\s*$/.exec(amount.value);
    if (!m) return;
    var cents = (m[2] || '').padEnd(2, '0');
    show((total.dataset.symbol || '$') + Number(m[1]) + '.' + cents);
  }
  if (amount) {
    amount.addEventListener('input', fromAmount);
    document.querySelectorAll('button.preset').forEach(function (b) {
      b.addEventListener('click', function () {
        amount.value = b.dataset.amount;
        fromAmount();
        amount.focus();
      });
    });
  }
})();
