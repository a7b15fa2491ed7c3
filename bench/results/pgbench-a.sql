select s.site_id, s.name, s.site_type, s.city, s.state, s.status, s.payment, s.liability_insurance, s.hipaa_training, s.offers, s.index_xid from site s where s.site_id = any(:p1);
