-- `site_report_counts` in PL/pgSQL: the same query, planned once per connection and kept (a SQL
-- function's query is planned again at every call, a third of a report write's summary update).
create or replace function site_report_counts(counted uuid) returns jsonb
language plpgsql stable as $$
begin
    return (
        select coalesce((
            select jsonb_build_object(
                'reports', count(*),
                'respondents', count(distinct r.respondent_id),
                'paid', count(*) filter (where r.paid),
                'paid_amounts', count(r.paid_usd),
                'median_paid_usd', percentile_disc(0.5) within group (order by r.paid_usd),
                'hipaa_employer', count(*) filter (where r.hipaa_source = 'employer'),
                'hipaa_clinical_facility', count(*) filter (where r.hipaa_source = 'clinical_facility'),
                'hipaa_educational_program', count(*) filter (where r.hipaa_source = 'educational_program'),
                'hipaa_online', count(*) filter (where r.hipaa_source = 'online'),
                'hipaa_unspecified', count(*) filter (where r.hipaa_source = 'unspecified'),
                'insurance_needed', count(*) filter (where r.insurance_needed),
                'accepted_independent', count(*) filter (where r.accepted_independent),
                'would_recommend', count(*) filter (where r.would_recommend))
              from site_report r
              join site s on s.site_id = r.site_id
             where r.site_id = counted and r.hidden_at is null and s.source <> 'demo'
            having count(*) > 0), '{}'));
end
$$;
