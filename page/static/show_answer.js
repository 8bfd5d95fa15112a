// After Read on a phone: bring the answer into view (does nothing when it is already visible).
() => { const a = document.getElementById('answer'); if (a) a.scrollIntoView({block: 'nearest'}); }
